"""``python -m wechat_openapi.testing serve``: the fake WeChat as a development server.

Run it beside your own development server and point your client's ``base_url`` at it:
it serves on 127.0.0.1 until Ctrl-C (SIGINT) or SIGTERM, seeded with the command line's demo
data (``--seed demo``, printed at start) or with nothing (``--seed empty``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Optional, Sequence

from ._server import FakeWeChat


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command; return its exit code (0 after SIGINT or SIGTERM, which stop it)."""
    parser = argparse.ArgumentParser(
        prog="python -m wechat_openapi.testing",
        description="The fake WeChat of wechat_openapi.testing, as a development server.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the fake on 127.0.0.1 until Ctrl-C",
        description="Serve the fake WeChat on 127.0.0.1 until Ctrl-C.",
    )
    serve.add_argument(
        "--port", type=int, default=0, help="the port to listen on (default: a free one)"
    )
    serve.add_argument(
        "--seed",
        choices=["demo", "empty"],
        default="demo",
        help="demo: the command line's demo accounts, rids and audits; empty: none (default: demo)",
    )
    args = parser.parse_args(argv)
    from .._sandbox import DEMO_DATA, seed_demo

    # Our own handlers, set before the URL is printed: a job started with `&` inherits SIGINT
    # ignored, and Python's default Ctrl-C can strike outside any wait.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    try:
        fake = FakeWeChat(port=args.port).start()
    except OSError as error:
        print(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror}", file=sys.stderr)
        return 2
    if args.seed == "demo":
        seed_demo(fake)
    print(f"fake WeChat at {fake.url}  (base_url for your client; Ctrl-C stops it)")
    print(DEMO_DATA if args.seed == "demo" else "no data seeded")
    sys.stdout.flush()
    while not stop.wait(0.2):  # a timed wait, so that the handlers run promptly
        pass
    fake.stop()
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
