"""``python -m lmulator``."""

import sys

from .cli import main

sys.exit(main())
