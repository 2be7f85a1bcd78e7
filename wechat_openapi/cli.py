"""The ``wechat-openapi`` command line: rid debugging from a terminal, offline with --sandbox.

The person debugging has a terminal, an error message pasted from a log, and a token in an
environment variable, so the token comes only from ``WECHAT_ACCESS_TOKEN`` or a file, never
from the command line (process lists, shell history), and is never printed.

Exit codes: 0 success, 1 a WeChat API error, 2 a usage error or no usable token, 3 a
transport error, 4 an invalid response. A failure is one line on stderr (a JSON object with
``--json``); ``-v`` adds DEBUG logs, with the token masked, and the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import textwrap
import traceback
from datetime import datetime
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ._redact import redact_query_token, scrub
from ._version import __version__
from .client import Client
from .errors import (
    APIError,
    InvalidResponseError,
    TransportError,
    WeChatError,
    find_rid,
    without_rid,
)
from .models import AuditStatus, NicknameAudit, RidInfo

PROG = "wechat-openapi"
TOKEN_ENV = "WECHAT_ACCESS_TOKEN"
EXIT_OK, EXIT_API_ERROR, EXIT_USAGE, EXIT_TRANSPORT, EXIT_INVALID_RESPONSE = 0, 1, 2, 3, 4

HOW_TO_GIVE_A_TOKEN = (
    f"no access token: set {TOKEN_ENV}, or pass --token-file PATH (a file holding only the "
    "token); to try the tool offline, add --sandbox"
)

Output = Dict[str, Any]


class UsageError(Exception):
    """The command was called in a way that cannot work; exit code 2."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
        )
    token = ""
    try:
        token = _token(args)
        with _client(args, token) as (client, args.sandbox_url):
            output, text = args.run(client, args)
    except (UsageError, WeChatError, TypeError, ValueError) as error:
        return _report_failure(args, error, token)
    except KeyboardInterrupt:
        return 130  # the shell's convention for Ctrl-C; no traceback
    print(scrub(json.dumps(output, ensure_ascii=False) if args.json else text, [token]))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; options shared by every command work before or after it."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Look up WeChat rids, the bound open-platform account and nickname audits.",
        epilog=(
            f"The token comes from {TOKEN_ENV} or --token-file, never from the command line. "
            "Exit codes: 0 ok, 1 WeChat API error, 2 usage or token problem, "
            "3 transport error, 4 invalid response. Try: wechat-openapi --sandbox demo"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_shared_options(parser, defaults=True)
    shared = argparse.ArgumentParser(add_help=False)
    _add_shared_options(shared, defaults=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    rid = commands.add_parser("rid", parents=[shared], help="show what WeChat recorded for a rid")
    which = rid.add_mutually_exclusive_group(required=True)
    which.add_argument("rid", nargs="?", help="a rid, such as 617682e0-09059ac5-34a8e2ea")
    which.add_argument(
        "--from-error",
        metavar="TEXT",
        help="find the rid in pasted text, such as an errmsg or a log line ('-' reads stdin)",
    )
    rid.set_defaults(run=_rid_command)

    account = commands.add_parser(
        "open-account", parents=[shared], help="the open-platform account this one is bound to"
    )
    account.add_argument("--appid", help="the token's own appid (optional)")
    account.set_defaults(run=_open_account_command)

    nickname = commands.add_parser(
        "nickname-status", parents=[shared], help="the state of a nickname change audit"
    )
    nickname.add_argument("audit_id", type=int, help="the audit_id the set-name API returned")
    nickname.set_defaults(run=_nickname_command)

    demo = commands.add_parser(
        "demo", parents=[shared], help="walk through the debugging loop (with --sandbox)"
    )
    demo.set_defaults(run=_demo_command)
    return parser


def _add_shared_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print one JSON object"
    )
    parser.add_argument(
        "--token-file", metavar="PATH", default=default(None), help="read the token from PATH"
    )
    parser.add_argument("--base-url", metavar="URL", default=default(None), help="API base URL")
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=default(None), help="per read"
    )
    parser.add_argument(
        "--retries", metavar="N", type=int, default=default(None), help="retries (default 2)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="DEBUG logs (token masked) and tracebacks on stderr",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        default=default(False),
        help="run against an offline fake WeChat with demo data (no token, no network)",
    )


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as file:
                token = file.read().strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise UsageError(
                f"cannot read the token file {args.token_file!r} ({reason}); "
                "put the token alone in a readable file"
            ) from None
        if not token:
            raise UsageError(f"the token file {args.token_file!r} is empty")
        return token
    if args.sandbox:
        from ._sandbox import DEMO_TOKEN

        return DEMO_TOKEN
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(HOW_TO_GIVE_A_TOKEN)
    return token


@contextlib.contextmanager
def _client(args: argparse.Namespace, token: str) -> Iterator[Tuple[Client, Optional[str]]]:
    """The client to use, and the sandbox's URL when the sandbox is running."""
    options: Dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.retries is not None:
        options["max_retries"] = args.retries
    if not args.sandbox:
        if args.command == "demo":
            raise UsageError("demo runs only against the sandbox: wechat-openapi --sandbox demo")
        if args.base_url:
            options["base_url"] = args.base_url
        with Client(access_token=token, **options) as client:
            yield client, None
        return
    if args.base_url:
        raise UsageError("--sandbox and --base-url cannot be used together")
    from ._sandbox import start_sandbox

    fake = start_sandbox()
    try:
        with Client(access_token=token, base_url=fake.url, **options) as client:
            yield client, fake.url
    finally:
        fake.stop()


# Commands: each returns (the --json object, the readable text). ---------------------------


def _rid_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    rid = args.rid
    if args.from_error is not None:
        text = sys.stdin.read() if args.from_error == "-" else args.from_error
        rid = find_rid(text)
        if rid is None:
            raise UsageError("no 'rid: ...' found in the text given to --from-error")
    info = client.get_rid_info(rid)
    return _rid_output(rid, info), _rid_text(rid, info)


def _open_account_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    account = client.get_open_account(args.appid)
    return {"open_appid": account.open_appid}, f"open_appid: {account.open_appid}"


def _nickname_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    audit = client.query_nickname_status(args.audit_id)
    return _nickname_output(args.audit_id, audit), _nickname_text(args.audit_id, audit)


def _demo_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    """The debugging loop: a call fails, its rid comes from the error, the rid is looked up."""
    appid = "wxsomeoneelse000"
    try:
        client.get_open_account(appid)
    except APIError as error:
        failure = error
    else:  # pragma: no cover - the sandbox always refuses another account's appid
        raise AssertionError("the sandbox accepted another account's appid")
    rid = find_rid(failure.errmsg) or ""
    info = client.get_rid_info(rid)
    output = {
        "sandbox_url": args.sandbox_url,
        "failed_call": _api_error_output(failure),
        "rid": rid,
        "lookup": _rid_output(rid, info),
    }
    steps = [
        f"A fake WeChat is running at {args.sandbox_url}, seeded with demo data:",
        "no network, no real token. The debugging loop, step by step:",
        "",
        f"1. A call fails: open/get is asked about appid {appid}, which is not this token's own.",
        f"   {PROG}: {_api_error_line(failure)}",
        "",
        "2. WeChat ends every errmsg with a rid; find_rid() takes it from the text:",
        f"   {rid}",
        f'   (from a pasted log line: {PROG} rid --from-error "...the text...")',
        "",
        "3. rid/get shows what WeChat recorded for that call:",
        textwrap.indent(_rid_text(rid, info), "   "),
        "",
        "More to try, each run starting from the same demo data:",
        f"  {PROG} --sandbox rid 617682e0-09059ac5-34a8e2ea    a quota error of yesterday's",
        f"  {PROG} --sandbox rid 5f5e1000-0badc0de-00000001    older than 7 days (76004)",
        f"  {PROG} --sandbox rid 61768300-0badc0de-00000002    another account's (76003)",
        f"  {PROG} --sandbox nickname-status 1002              a rejected nickname",
        f"  {PROG} --sandbox --json open-account               machine output",
    ]
    return output, "\n".join(steps)


# Rendering. -----------------------------------------------------------------------------


def _when(moment: Optional[datetime]) -> str:
    if moment is None:
        return "not yet"
    local = moment.astimezone()
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC (local {local:%Y-%m-%d %H:%M:%S} {local.tzname()})"


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return moment.isoformat() if moment else None


def _rid_output(rid: str, info: RidInfo) -> Output:
    return {
        "rid": rid,
        "invoke_time": _iso(info.invoke_time),
        "cost_in_ms": info.cost_in_ms,
        "client_ip": info.client_ip,
        "request_url": redact_query_token(info.request_url),
        "request_body": info.request_body,
        "response_body": info.response_body,
        "request_json": info.request_json(),
        "response_json": info.response_json(),
    }


def _body_text(raw: str, parsed: Any) -> str:
    if not raw.strip():
        return "  (empty)"
    shown = raw if parsed is None else json.dumps(parsed, ensure_ascii=False, indent=2)
    return textwrap.indent(shown, "  ")


def _rid_text(rid: str, info: RidInfo) -> str:
    lines = [
        f"rid:          {rid}",
        f"invoked at:   {_when(info.invoke_time)}",
        f"duration:     {info.cost_in_ms} ms",
        f"client IP:    {info.client_ip or '-'}",
        f"request URL:  {redact_query_token(info.request_url) or '-'}",
        "request body:",
        _body_text(info.request_body, info.request_json()),
        "response body:",
        _body_text(info.response_body, info.response_json()),
    ]
    return "\n".join(lines)


def _status_name(audit: NicknameAudit) -> Optional[str]:
    return audit.audit_stat.name if isinstance(audit.audit_stat, AuditStatus) else None


def _nickname_output(audit_id: int, audit: NicknameAudit) -> Output:
    return {
        "audit_id": audit_id,
        "nickname": audit.nickname,
        "audit_stat": int(audit.audit_stat),
        "audit_status": _status_name(audit),
        "fail_reason": audit.fail_reason,
        "create_time": _iso(audit.create_time),
        "audit_time": _iso(audit.audit_time),
    }


def _nickname_text(audit_id: int, audit: NicknameAudit) -> str:
    status = _status_name(audit) or "undocumented"
    lines = [
        f"audit_id:     {audit_id}",
        f"nickname:     {audit.nickname}",
        f"status:       {status} ({int(audit.audit_stat)})",
        f"fail reason:  {audit.fail_reason or '-'}",
        f"submitted at: {_when(audit.create_time)}",
        f"audited at:   {_when(audit.audit_time)}",
    ]
    return "\n".join(lines)


# Failures. ------------------------------------------------------------------------------

FAILURES: List[Tuple[type, int]] = [
    (UsageError, EXIT_USAGE),
    (TypeError, EXIT_USAGE),  # a bad argument, refused before any request
    (ValueError, EXIT_USAGE),
    (APIError, EXIT_API_ERROR),
    (TransportError, EXIT_TRANSPORT),
    (InvalidResponseError, EXIT_INVALID_RESPONSE),
]


def _api_error_line(error: APIError) -> str:
    line = f"{error.errcode} {type(error).__name__}: {without_rid(error.errmsg) or '(no errmsg)'}"
    if error.hint:
        line += f"; hint: {error.hint}"
    if error.rid:
        line += f"; rid: {error.rid}"
    return line


def _api_error_output(error: APIError) -> Output:
    return {
        "type": type(error).__name__,
        "errcode": error.errcode,
        "errmsg": error.errmsg,
        "hint": error.hint,
        "rid": error.rid,
        "path": error.path,
    }


def _report_failure(args: argparse.Namespace, error: BaseException, token: str) -> int:
    exit_code = next(code for kind, code in FAILURES if isinstance(error, kind))
    if isinstance(error, APIError):
        line, details = _api_error_line(error), _api_error_output(error)
    else:
        line = f"{type(error).__name__}: {error}" if isinstance(error, WeChatError) else str(error)
        details = {"type": type(error).__name__, "message": str(error)}
        if isinstance(error, InvalidResponseError):
            details["status_code"] = error.status_code
    if args.verbose:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    if exit_code == EXIT_USAGE and not isinstance(error, UsageError):
        line = f"bad argument: {line}"
    shown = json.dumps({"error": details}, ensure_ascii=False) if args.json else f"{PROG}: {line}"
    print(scrub(shown, [token]), file=sys.stderr)
    return exit_code
