"""`python -m localcloud.model_monitor`: the analyzer a monitoring job runs (see `analyzer`)."""

import sys

from localcloud.model_monitor.analyzer import main

if __name__ == "__main__":
    sys.exit(main())
