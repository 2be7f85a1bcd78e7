"""The ``wechat-openapi`` command line: rid debugging from a terminal, offline with --sandbox.

The person debugging has a terminal, an error message pasted from a log, and a token in an
environment variable, so the token comes only from ``WECHAT_ACCESS_TOKEN`` or a file, never
from the command line (process lists, shell history), and is never printed.

Exit codes: 0 success, 1 a WeChat API error, 2 a usage error or no usable token, 3 a
transport error, 4 an invalid response, 74 the output could not be written (a full disk), 130
Ctrl-C, 141 the output was closed early (``| head``), 143 SIGTERM. A failure is one line on
stderr (a JSON object with ``--json``); ``-v`` adds DEBUG logs, with the token masked, and
the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import stat
import sys
import textwrap
import traceback
from datetime import datetime
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import attr

from ._redact import redact_query_token, scrub
from ._settings import BASE_URL_ENV, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES
from ._version import __version__
from .client import Client, normalised_cgi_path
from .errors import (
    APIError,
    InvalidResponseError,
    QuotaExceededError,
    TokenUnavailableError,
    TransportError,
    WeChatError,
    find_rid,
    without_rid,
)
from .models import AuditStatus, NicknameAudit, RidInfo

PROG = "wechat-openapi"
TOKEN_ENV = "WECHAT_ACCESS_TOKEN"
EXIT_OK, EXIT_API_ERROR, EXIT_USAGE, EXIT_TRANSPORT, EXIT_INVALID_RESPONSE = 0, 1, 2, 3, 4
EXIT_OUTPUT_FAILED = 74  # sysexits.h EX_IOERR: the output could not be written
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C (128 + SIGINT)
EXIT_OUTPUT_CLOSED = 141  # as a program killed by SIGPIPE (128 + 13): `| head` stopped reading
TOKEN_FILE_MAX = 4096  # bytes: a token is under 1 KiB
_RID_SHAPE = re.compile(r"[0-9A-Za-z]+(?:-[0-9A-Za-z]+)+")

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
        if args.command == "demo" and not args.sandbox:
            raise UsageError("demo runs only against the sandbox: wechat-openapi --sandbox demo")
        token = _token(args)
        with _client(args, token) as (client, args.sandbox_url):
            output, text = args.run(client, args)
    except (UsageError, WeChatError) as error:
        return _report_failure(args, error, token)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # no traceback
    return _write(scrub(json.dumps(output, ensure_ascii=False) if args.json else text, [token]))


def _write(text: str) -> int:
    """Print the result; a reader that went away, or a full disk, is an exit code, not a
    traceback."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would flush stdout again at exit and fail once more: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OUTPUT_CLOSED
    except OSError as error:
        with contextlib.suppress(OSError):
            print(f"{PROG}: cannot write the output: {error.strerror or error}", file=sys.stderr)
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OUTPUT_FAILED
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; options shared by every command work before or after it."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Look up WeChat rids, the bound open-platform account and nickname audits.",
        epilog=(
            f"The token comes from {TOKEN_ENV} or --token-file, never from the command line. "
            "Exit codes: 0 ok, 1 WeChat API error, 2 usage or token problem, "
            "3 transport error, 4 invalid response, 74 output not written, 130 Ctrl-C, "
            "141 output closed early, 143 SIGTERM. Errors go to stderr, as one JSON object "
            "with --json. Try: wechat-openapi --sandbox demo"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_shared_options(parser, defaults=True)
    shared = argparse.ArgumentParser(add_help=False)
    _add_shared_options(shared, defaults=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, parents=[shared], help=summary, description=f"{summary}: {description}"
        )

    rid = command(
        "rid",
        "show what WeChat recorded for a rid",
        "the call's time, duration, client IP, URL (token masked) and bodies (last 7 days)",
    )
    which = rid.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "rid", nargs="?", type=_text("rid"), help="a rid, such as 617682e0-09059ac5-34a8e2ea"
    )
    which.add_argument(
        "--from-error",
        metavar="TEXT",
        help="find the rid in pasted text, such as an errmsg or a log line ('-' reads stdin)",
    )
    rid.set_defaults(run=_rid_command)

    account = command(
        "open-account",
        "the open-platform account this one is bound to",
        "open/get for the token's account",
    )
    account.add_argument(
        "--appid", type=_text("--appid"), help="the token's own appid (default: left out)"
    )
    account.set_defaults(run=_open_account_command)

    nickname = command(
        "nickname-status",
        "the state of a nickname change audit",
        "pending, rejected (with the reason) or approved",
    )
    nickname.add_argument(
        "audit_id", type=_positive_int, help="the audit_id the set-name API returned"
    )
    nickname.set_defaults(run=_nickname_command)

    quota = command(
        "quota",
        "an API's daily quota for this account",
        "its daily limit, what was used today and what remains (openapi/quota/get)",
    )
    quota.add_argument(
        "cgi_path",
        type=_cgi_path,
        help="the API's path, such as /cgi-bin/message/custom/send (a full URL is taken too)",
    )
    quota.set_defaults(run=_quota_command)

    clear = command(
        "clear-quota",
        "reset every API quota of an account",
        "clear_quota; WeChat allows 10 resets a month, so it asks first unless --yes",
    )
    clear.add_argument(
        "--appid", type=_text("--appid"), required=True, help="the account whose quotas to reset"
    )
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    clear.set_defaults(run=_clear_quota_command)

    demo = command(
        "demo",
        "walk through the debugging loop (with --sandbox)",
        "a failed call, its rid, and what rid/get shows, against the offline fake",
    )
    demo.set_defaults(run=_demo_command)
    return parser


def _text(option: str) -> Callable[[str], str]:
    """An argparse type: the value without surrounding spaces, refused when blank."""

    def parse(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"{option} must not be empty")
        return value.strip()

    return parse


def _cgi_path(value: str) -> str:
    """An argparse type: the API path as WeChat wants it, or our words for why not."""
    try:
        return normalised_cgi_path(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(value: str) -> int:
    if not value.strip().isdigit() or int(value) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value!r}")
    return int(value)


def _count(value: str) -> int:
    if not value.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, got {value!r}")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return seconds


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or value != value.strip():
        raise argparse.ArgumentTypeError(
            f"must be an http(s) URL such as {DEFAULT_BASE_URL}, got {value!r}"
        )
    return value


def _add_shared_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print one JSON object"
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        default=default(None),
        help=f"read the token from PATH, a regular file of at most {TOKEN_FILE_MAX} bytes "
        f"(default: ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        type=_url,
        default=default(None),
        help=f"API base URL (default: ${BASE_URL_ENV} if set, else {DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=default(None),
        help="connect and per-read timeout (default: 5 to connect, 10 per read)",
    )
    parser.add_argument(
        "--retries",
        metavar="N",
        type=_count,
        default=default(None),
        help=f"retries of failures that may pass (default: {DEFAULT_MAX_RETRIES})",
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
        return _read_token_file(args.token_file)
    if args.sandbox:
        from ._sandbox import DEMO_TOKEN

        return DEMO_TOKEN
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(HOW_TO_GIVE_A_TOKEN)
    return token


def _read_token_file(path: str) -> str:
    """The token alone in a regular file of at most TOKEN_FILE_MAX bytes. A FIFO, a device
    (/dev/zero) or a huge file is refused before it can block or fill memory."""
    problem = ""
    data = b""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        problem = error.strerror or "cannot open it"
    else:
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                problem = "not a regular file"
            elif status.st_size > TOKEN_FILE_MAX:
                problem = f"{status.st_size} bytes, over {TOKEN_FILE_MAX}"
            else:
                data = os.read(descriptor, TOKEN_FILE_MAX + 1)
                if len(data) > TOKEN_FILE_MAX:
                    problem = f"over {TOKEN_FILE_MAX} bytes"
        finally:
            os.close(descriptor)
    token = ""
    if not problem:
        try:
            token = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            problem = "not UTF-8 text"
    if problem:
        raise UsageError(
            f"cannot use the token file {path!r} ({problem}): put the token alone in a regular "
            f"file of at most {TOKEN_FILE_MAX} bytes"
        )
    if not token:
        raise UsageError(f"the token file {path!r} is empty")
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
        if args.base_url:
            options["base_url"] = args.base_url
        try:
            client = Client(access_token=token, **options)
        except ValueError as error:  # a bad $WECHAT_OPENAPI_BASE_URL: argparse checked the rest
            raise UsageError(str(error)) from None
        with client:
            yield client, None
        return
    if args.base_url:
        raise UsageError("--sandbox and --base-url cannot be used together")
    from ._sandbox import start_sandbox

    fake = start_sandbox()
    try:
        # The embedded fake's URL, given: $WECHAT_OPENAPI_BASE_URL never redirects the sandbox.
        with Client(access_token=token, base_url=fake.url, **options) as client:
            yield client, fake.url
    finally:
        fake.stop()


# Commands: each returns (the --json object, the readable text). ---------------------------


def _rid_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    rid = args.rid
    if args.from_error is not None:
        text = sys.stdin.read() if args.from_error == "-" else args.from_error
        bare = text.strip()
        rid = bare if _RID_SHAPE.fullmatch(bare) else find_rid(text)
        if rid is None:
            raise UsageError("no 'rid: ...' (nor a bare rid) found in the text for --from-error")
    info = client.get_rid_info(rid)
    text = _rid_text(rid, info)
    if _errcode_of(info) == QuotaExceededError.code:
        text += (
            f"\n\nThat call ran out of its daily quota (45009). Next: {PROG} quota CGI_PATH, "
            "with the path of the API it called (such as /cgi-bin/message/custom/send)"
        )
    return _rid_output(rid, info), text


def _errcode_of(info: RidInfo) -> Optional[int]:
    recorded = info.response_json()
    return recorded.get("errcode") if isinstance(recorded, dict) else None


def _open_account_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    account = client.get_open_account(args.appid)
    return {"open_appid": account.open_appid}, f"open_appid: {account.open_appid}"


def _nickname_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    audit = client.query_nickname_status(args.audit_id)
    return _nickname_output(args.audit_id, audit), _nickname_text(args.audit_id, audit)


def _quota_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    path = args.cgi_path  # normalised when the arguments were parsed
    quota = client.get_api_quota(path)
    output: Output = {"cgi_path": path, **attr.asdict(quota)}
    lines = [
        f"cgi_path:     {path}",
        f"daily limit:  {quota.daily_limit}",
        f"used today:   {quota.used}",
        f"remaining:    {quota.remain}",
    ]
    for name, limit in (
        ("rate limit", quota.rate_limit),
        ("for platforms", quota.component_rate_limit),
    ):
        if limit is not None:
            lines.append(f"{name + ':':<13} {limit.call_count} calls per {limit.refresh_second} s")
    if quota.remain <= 0:
        lines.append(f"used up: wait for tomorrow, or {PROG} clear-quota --appid APPID")
    return output, "\n".join(lines)


def _clear_quota_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("clear-quota spends one of 10 resets a month: add --yes to confirm")
        print(
            f"Reset every API quota of {args.appid}? This spends one of its 10 resets this "
            "month. [y/N] ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise UsageError("not reset")
    client.clear_quota(args.appid)
    return {"appid": args.appid, "reset": True}, f"every API quota of {args.appid} is reset"


def _demo_command(client: Client, args: argparse.Namespace) -> Tuple[Output, str]:
    """The debugging loop: a call fails, its rid comes from the error, the rid is looked up,
    and a quota error's API shows its quota."""
    from ._sandbox import QUOTA_PATH, QUOTA_RID  # the fake loads only with --sandbox

    appid = "wxsomeoneelse000"
    try:
        client.get_open_account(appid)
    except APIError as error:
        failure = error
    else:  # pragma: no cover - the sandbox always refuses another account's appid
        raise AssertionError("the sandbox accepted another account's appid")
    rid = find_rid(failure.errmsg) or ""
    info = client.get_rid_info(rid)
    quota = client.get_api_quota(QUOTA_PATH)
    output = {
        "sandbox_url": args.sandbox_url,
        "failed_call": _api_error_output(failure),
        "rid": rid,
        "lookup": _rid_output(rid, info),
        "quota": {"cgi_path": QUOTA_PATH, **attr.asdict(quota)},
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
        f"4. Yesterday's {QUOTA_RID} was a 45009: the quota of its API shows why:",
        f"   {PROG} --sandbox quota {QUOTA_PATH}",
        f"   used {quota.used} of {quota.daily_limit} today; {quota.remain} left "
        f"(reset with {PROG} clear-quota --appid APPID, 10 a month)",
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
        f"query string: {redact_query_token(info.request_url) or '-'}",
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
    (TokenUnavailableError, EXIT_USAGE),
    (APIError, EXIT_API_ERROR),
    (TransportError, EXIT_TRANSPORT),
    (InvalidResponseError, EXIT_INVALID_RESPONSE),
    (WeChatError, EXIT_API_ERROR),
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
    shown = json.dumps({"error": details}, ensure_ascii=False) if args.json else f"{PROG}: {line}"
    print(scrub(shown, [token]), file=sys.stderr)
    return exit_code
