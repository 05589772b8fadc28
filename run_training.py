#!/usr/bin/env python3
"""Entry point: ``python run_training.py --help``."""

import sys

from recursive_training.run_training import main

if __name__ == "__main__":
    sys.exit(main())
