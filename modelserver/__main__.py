"""``python -m modelserver serve``: the container's ``serve`` command."""

import sys

from modelserver.cli import main

sys.exit(main())
