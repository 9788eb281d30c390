"""Entry point of `python -m ials`."""

import sys

from ials.cli import main

sys.exit(main())
