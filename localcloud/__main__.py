"""`python -m localcloud`: start the local AWS cloud on 127.0.0.1:4566."""

from localcloud.server import main

if __name__ == "__main__":
    main()
