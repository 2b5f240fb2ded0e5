"""``python -m memmimic_core.mcp_server [--http] [--host H] [--port P] [--token T] [--config PATH]``."""

from __future__ import annotations

import argparse
import sys

from ..errors import MemMimicError
from .cli import serve


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve; a MemMimicError becomes one line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m memmimic_core.mcp_server", description=__doc__)
    parser.add_argument("--config", default=None, help="YAML config (default: MEMMIMIC_CONFIG)")
    parser.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    parser.add_argument("--host", default=None, help="default: server.host from the config")
    parser.add_argument("--port", type=int, default=None, help="default: server.port from the config")
    parser.add_argument("--token", default=None, help="bearer token (default: MEMMIMIC_SERVER_TOKEN)")
    args = parser.parse_args(argv)
    try:
        serve(args.config, args.http, args.host, args.port, args.token)
    except MemMimicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
