#!/usr/bin/env python3
"""Entry point: ``python run_training.py --help``."""

from recursive_training.run_training import cli

if __name__ == "__main__":
    cli()
