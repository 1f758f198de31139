"""``python -m teachkit``: the command line."""

import sys

from teachkit.cli import main

sys.exit(main())
