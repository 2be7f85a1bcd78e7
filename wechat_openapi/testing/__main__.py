"""``python -m wechat_openapi.testing serve``: the fake WeChat as a development server.

Run it beside your own development server and point your client's ``base_url`` at it:
it serves on 127.0.0.1 until Ctrl-C (SIGINT) or SIGTERM, seeded with the command line's demo
data and a demo third-party platform (``--seed demo``) or with nothing (``--seed empty``).

At start it prints what a recipe needs: the URL, every seeded AppSecret and key, the
platform's ticket and refresh tokens, and ``export`` lines for the environment variables the
README's recipes read (``WECHAT_OPENAPI_BASE_URL`` among them), so that they run unedited.
Another process drives it through its control surface, under ``/_fake/`` (see ``_control``).
"""

from __future__ import annotations

import argparse
import io
import shlex
import signal
import sys
import threading
from typing import Any, Dict, List, Optional, Sequence

from ._control import OPERATIONS
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
        help="demo: the command line's demo accounts, rids and audits, and a demo third-party "
        "platform with a ticket and two authorizers; empty: none (default: demo)",
    )
    args = parser.parse_args(argv)
    from .._sandbox import DEMO_DATA, seed_demo, seed_demo_component

    if isinstance(sys.stdout, io.TextIOWrapper):  # a parent reading the pipe sees each line
        sys.stdout.reconfigure(line_buffering=True)

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
        seed_demo_component(fake)
    print(f"fake WeChat at {fake.url}  (base_url for your client; Ctrl-C stops it)")
    print(DEMO_DATA if args.seed == "demo" else "no data seeded")
    print("\n".join(_recipe_lines(fake.report())))
    sys.stdout.flush()
    while not stop.wait(0.2):  # a timed wait, so that the handlers run promptly
        pass
    fake.stop()
    print("stopped")
    return 0


def _recipe_lines(report: Dict[str, Any]) -> List[str]:
    """The platforms seeded, with every key and token a recipe needs; the control surface;
    and the recipes' environment as shell ``export`` lines, ended by an empty line."""
    accounts = {account["appid"]: account for account in report["accounts"]}
    lines = []
    for component in report["components"]:
        lines += [
            f"third-party platform {component['appid']}, AppSecret {component['secret']}:",
            f"  push Token {component['push_token']}, "
            f"EncodingAESKey {component['encoding_aes_key']}",
            f"  ticket {component['ticket']}",
            "  authorizers (appid: refresh token, open appid, AppSecret):",
        ]
        for authorizer in component["authorizers"]:
            account = accounts.get(authorizer["appid"], {})
            lines.append(
                f"    {authorizer['appid']}: {authorizer['refresh_token']}, "
                f"bound to {account.get('open_appid')}, AppSecret {account.get('secret')}"
            )
    paths = ", ".join(path.rsplit("/_fake/", 1)[1] for path in OPERATIONS)
    lines.append(f"control surface (this fake only): {report['url']}/_fake/ ({paths})")
    lines.append("for the README's recipes, in your shell:")
    lines += [
        f"export {name}={shlex.quote(value)}" for name, value in report["environment"].items()
    ]
    return [*lines, ""]


if __name__ == "__main__":
    sys.exit(main())
