"""Imported by the fork server alone (the last of its preloads): it ends at once when the coordinator has gone.

Otherwise the server's interpreter finalises torch and Dask (about a
second) while it still holds the coordinator's stdout and stderr, and
whoever reads those (a pipe, ``subprocess.run``) waits that long past the
command's end. Workers forked from the server leave through ``os._exit``
and never run this.
"""

import atexit
import os

__all__: list[str] = []

atexit.register(os._exit, 0)
