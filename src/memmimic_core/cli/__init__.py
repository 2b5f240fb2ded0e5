"""The ``memmimic`` command line."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the CLI (the ``memmimic`` console script)."""
    try:
        from .app import run
    except KeyboardInterrupt:  # Ctrl-C while the CLI is still importing
        sys.exit(130)
    run()
