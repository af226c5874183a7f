#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The namespace lab's command line; the lab itself is the package tools/lab.

    python3 tools/xhclab.py up --name demo --listen 80   # prints KEY=VALUE lines
    python3 tools/xhclab.py down demo
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
