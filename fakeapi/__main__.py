"""CLI: ``python -m fakeapi``; prints one line once listening so callers can wait."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from fakeapi.server import Defaults, FakeApiServer


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT, then exit 0 so supervisors see a clean stop."""
    parser = argparse.ArgumentParser(prog="python -m fakeapi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--records", type=int, default=250)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--page-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.records < 0 or args.page_delay < 0:
        parser.error("--records and --page-delay must be >= 0")

    defaults = Defaults(args.records, args.seed, args.page_delay)
    server = FakeApiServer((args.host, args.port), defaults)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so it must not run here.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    sys.stdout.write(f"fakeapi listening on http://{args.host}:{port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
