# SPDX-License-Identifier: MIT
"""`python3 -m lab ...` (with tools/ on the path): the lab's command line."""
import sys

from .cli import main

sys.exit(main())
