"""The wechat-openapi command line, run as a subprocess against the fake WeChat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import wechat_openapi
from tests.conftest import TOKEN
from wechat_openapi.testing import Account, FakeWeChat, Fault

CONSOLE_SCRIPT = Path(sys.executable).with_name("wechat-openapi")


def run(
    *args: str,
    token: Optional[str] = TOKEN,
    stdin: Optional[str] = None,
    env: Optional[Dict[str, str]] = None,
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """Run ``python -m wechat_openapi ARGS`` with the token (if any) in the environment."""
    environment = {k: v for k, v in os.environ.items() if k != "WECHAT_ACCESS_TOKEN"}
    if token is not None:
        environment["WECHAT_ACCESS_TOKEN"] = token
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wechat_openapi", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def against(fake: FakeWeChat, *args: str, **options: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return run("--base-url", fake.url, "--retries", "0", *args, **options)  # type: ignore[arg-type]


def assert_one_line_without_traceback(stderr: str) -> None:
    assert stderr.count("\n") == 1
    assert "Traceback" not in stderr


# Commands that succeed ------------------------------------------------------------------


def test_rid_prints_the_record_readably_with_the_token_masked(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    yesterday = (datetime.now() - timedelta(days=1)).replace(hour=8, minute=30, second=0)
    rid = wechat_fake.add_rid(
        account,
        invoke_time=yesterday.astimezone(),
        cost_in_ms=87,
        client_ip="203.0.113.7",
        request_body='{"touser": "o1", "text": {"content": "你好"}}',
        response_body="plain text answer",
    )
    result = against(wechat_fake, "rid", rid)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"rid:          {rid}" in out
    assert f"UTC (local {yesterday:%Y-%m-%d} 08:30:00" in out
    assert "duration:     87 ms" in out
    assert "client IP:    203.0.113.7" in out
    assert "query string: access_token=***&" in out  # WeChat's request_url
    assert "URL" not in out
    assert '    "touser": "o1",\n' in out  # pretty-printed JSON
    assert '"content": "你好"' in out
    assert "  plain text answer" in out  # not JSON: shown as it is
    assert TOKEN not in out + result.stderr


def test_rid_json_is_one_object_with_iso_datetimes(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    rid = wechat_fake.add_rid(account, request_body='{"a": 1}')
    result = against(wechat_fake, "--json", "rid", rid)

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["rid"] == rid
    assert datetime.fromisoformat(data["invoke_time"]).utcoffset() is not None
    assert data["request_json"] == {"a": 1}
    assert data["request_url"] == "access_token=***&"
    assert TOKEN not in result.stdout


@pytest.mark.parametrize(
    "text",
    [
        "invalid credential, access_token is invalid or not latest rid: {rid}",
        "2026-11-21 10:00:01 ERROR wechat call failed: 45009 quota (rid: {rid}) retrying later",
    ],
)
def test_rid_from_error_finds_the_rid_in_pasted_text(
    wechat_fake: FakeWeChat, account: Account, text: str
) -> None:
    rid = wechat_fake.add_rid(account)
    result = against(wechat_fake, "rid", "--from-error", text.format(rid=rid))
    assert result.returncode == 0, result.stderr
    assert f"rid:          {rid}" in result.stdout
    assert wechat_fake.requests[-1].json() == {"rid": rid}


def test_rid_from_error_reads_stdin_with_a_dash(wechat_fake: FakeWeChat, account: Account) -> None:
    rid = wechat_fake.add_rid(account)
    result = against(wechat_fake, "rid", "--from-error", "-", stdin=f"a log line\nerr rid: {rid}\n")
    assert result.returncode == 0, result.stderr
    assert wechat_fake.requests[-1].json() == {"rid": rid}


def test_open_account_text_json_and_appid(wechat_fake: FakeWeChat, account: Account) -> None:
    text = against(wechat_fake, "open-account")
    assert (text.returncode, text.stdout) == (0, "open_appid: wxopen\n")

    data = against(wechat_fake, "open-account", "--appid", "wxshop", "--json")
    assert data.returncode == 0
    assert json.loads(data.stdout) == {"open_appid": "wxopen"}
    assert wechat_fake.requests[-1].json() == {"appid": "wxshop"}


def test_nickname_status_text_and_json(wechat_fake: FakeWeChat, account: Account) -> None:
    audit = wechat_fake.add_nickname_audit(
        account, "新名字", audit_stat=2, fail_reason="taken", audit_time=wechat_fake.now()
    )
    text = against(wechat_fake, "nickname-status", str(audit))
    assert text.returncode == 0
    assert "nickname:     新名字" in text.stdout
    assert "status:       REJECTED (2)" in text.stdout
    assert "fail reason:  taken" in text.stdout

    data = json.loads(against(wechat_fake, "--json", "nickname-status", str(audit)).stdout)
    assert data["audit_status"] == "REJECTED"
    assert data["audit_stat"] == 2
    assert datetime.fromisoformat(data["audit_time"]).utcoffset() is not None


def test_the_token_can_come_from_a_file(
    wechat_fake: FakeWeChat, account: Account, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"  {account.token}\n")
    result = against(wechat_fake, "--token-file", str(token_file), "open-account", token=None)
    assert result.returncode == 0, result.stderr
    assert wechat_fake.requests[-1].token == account.token


# Failures and exit codes -------------------------------------------------------------


def test_an_api_error_exits_1_with_one_line_naming_code_class_message_hint_and_rid(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    result = against(wechat_fake, "open-account", "--appid", "wxnotmine")

    assert result.returncode == 1
    assert result.stdout == ""
    assert_one_line_without_traceback(result.stderr)
    (rid,) = wechat_fake.rids  # the one rid the fake gave the error
    assert result.stderr == (
        "wechat-openapi: 40013 InvalidAppIdError: invalid appid; "
        "hint: invalid AppID: check it for typos, stray characters and case; "
        f"rid: {rid}\n"
    )


def test_an_api_error_with_json_is_one_json_object_on_stderr(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    result = against(wechat_fake, "--json", "nickname-status", "999")
    assert result.returncode == 1
    assert_one_line_without_traceback(result.stderr)
    error = json.loads(result.stderr)["error"]
    assert (error["type"], error["errcode"]) == ("NicknameAuditNotFoundError", 91011)
    assert error["rid"] in wechat_fake.rids


def test_a_missing_token_exits_2_and_says_how_to_give_one(wechat_fake: FakeWeChat) -> None:
    result = against(wechat_fake, "open-account", token=None)
    assert result.returncode == 2
    assert_one_line_without_traceback(result.stderr)
    assert "WECHAT_ACCESS_TOKEN" in result.stderr
    assert "--token-file" in result.stderr
    assert wechat_fake.requests == []


@pytest.mark.parametrize("content", [None, "", "\xff\xfe"])
def test_an_unreadable_or_empty_token_file_exits_2(
    wechat_fake: FakeWeChat, tmp_path: Path, content: Optional[str]
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_bytes(content.encode("latin-1"))
    result = against(wechat_fake, "--token-file", str(token_file), "open-account")
    assert result.returncode == 2
    assert_one_line_without_traceback(result.stderr)
    assert "token file" in result.stderr
    assert wechat_fake.requests == []


BAD_ARGUMENTS = [
    pytest.param(["nickname-status", "abc"], id="audit id not an int"),
    pytest.param(["nickname-status", "0"], id="audit id not positive"),
    pytest.param(["nickname-status"], id="no audit id"),
    pytest.param(["rid"], id="no rid"),
    pytest.param(["rid", "x", "--from-error", "y"], id="rid and --from-error"),
    pytest.param(["rid", "--from-error", "no rid in here"], id="no rid in the text"),
    pytest.param(["rid", "   "], id="blank rid"),
    pytest.param(["open-account", "--appid", ""], id="empty appid"),
    pytest.param(["--timeout", "0", "open-account"], id="zero timeout"),
    pytest.param(["--timeout", "soon", "open-account"], id="timeout not a number"),
    pytest.param(["demo"], id="demo without the sandbox"),
    pytest.param([], id="no command"),
    pytest.param(["frobnicate"], id="unknown command"),
]


@pytest.mark.parametrize("arguments", BAD_ARGUMENTS)
def test_usage_errors_exit_2_without_a_request_or_a_traceback(
    wechat_fake: FakeWeChat, account: Account, arguments: List[str]
) -> None:
    result = against(wechat_fake, *arguments)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()
    assert wechat_fake.requests == []


def test_the_sandbox_refuses_a_base_url(wechat_fake: FakeWeChat) -> None:
    result = against(wechat_fake, "--sandbox", "open-account")
    assert result.returncode == 2
    assert "--sandbox and --base-url" in result.stderr


def test_a_transport_error_exits_3(wechat_fake: FakeWeChat, account: Account) -> None:
    wechat_fake.inject(Fault.delay(10))
    result = against(wechat_fake, "--timeout", "0.3", "open-account")
    assert result.returncode == 3
    assert_one_line_without_traceback(result.stderr)
    assert "RequestTimeoutError" in result.stderr


def test_a_refused_connection_exits_3() -> None:
    result = run("--base-url", "http://127.0.0.1:1", "--retries", "0", "open-account")
    assert result.returncode == 3
    assert_one_line_without_traceback(result.stderr)
    assert TOKEN not in result.stderr


@pytest.mark.parametrize("fault", [Fault.html(), Fault.bad_gateway(), Fault.truncated_json()])
def test_an_invalid_response_exits_4(
    wechat_fake: FakeWeChat, account: Account, fault: Fault
) -> None:
    wechat_fake.inject(fault)
    result = against(wechat_fake, "--json", "open-account")
    assert result.returncode == 4
    assert_one_line_without_traceback(result.stderr)
    assert json.loads(result.stderr)["error"]["type"] == "InvalidResponseError"


def test_verbose_shows_masked_debug_logs_and_the_traceback(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    result = against(wechat_fake, "-v", "open-account", "--appid", "wxnotmine")
    assert result.returncode == 1
    assert "wechat_openapi DEBUG POST /cgi-bin/open/get attempt 1/1" in result.stderr
    # urllib3 logs the connection; the request it does not send (the direct route) it does
    # not log, so the query string appears nowhere.
    assert "urllib3.connectionpool DEBUG Starting new HTTP connection" in result.stderr
    assert "access_token" not in result.stderr
    assert "Traceback" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


SEEN_BY_EVERYONE = [
    pytest.param(["rid", "RID"], id="rid"),
    pytest.param(["--json", "rid", "RID"], id="rid json"),
    pytest.param(["-v", "rid", "RID"], id="rid verbose"),
    pytest.param(["-v", "open-account", "--appid", "wxnotmine"], id="api error verbose"),
    pytest.param(["--json", "-v", "nickname-status", "5"], id="json api error verbose"),
    pytest.param(["-v", "--base-url", "http://127.0.0.1:1", "open-account"], id="refused"),
]


@pytest.mark.parametrize("arguments", SEEN_BY_EVERYONE)
def test_the_token_is_never_printed(
    wechat_fake: FakeWeChat, account: Account, arguments: List[str]
) -> None:
    rid = wechat_fake.add_rid(account)  # its recorded request_url holds the token
    result = against(wechat_fake, *[rid if a == "RID" else a for a in arguments])
    assert TOKEN not in result.stdout
    assert TOKEN not in result.stderr


# The sandbox and the entry points -------------------------------------------------------


def test_sandbox_demo_walks_through_the_debugging_loop() -> None:
    result = run("--sandbox", "demo", token=None)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. A call fails" in out
    assert "40013 InvalidAppIdError" in out
    failed_rid = out.split("takes it from the text:\n", 1)[1].split()[0]
    assert wechat_openapi.find_rid(f"rid: {failed_rid}") == failed_rid
    assert f"; rid: {failed_rid}" in out  # the error line of step 1
    assert f"rid:          {failed_rid}" in out  # the lookup of step 3
    assert '"appid": "wxsomeoneelse000"' in out


def test_sandbox_demo_json_parses() -> None:
    result = run("--sandbox", "--json", "demo", token="a-real-token-that-must-not-be-used")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["failed_call"]["errcode"] == 40013
    assert data["lookup"]["rid"] == data["rid"] == data["failed_call"]["rid"]
    assert data["lookup"]["request_json"] == {"appid": "wxsomeoneelse000"}


SANDBOX = [
    pytest.param(["rid", "617682e0-09059ac5-34a8e2ea"], 0, "45009", id="quota rid"),
    pytest.param(["rid", "617682e0-1a2b3c4d-5e6f7a8b"], 0, "你好", id="sent rid"),
    pytest.param(["rid", "5f5e1000-0badc0de-00000001"], 1, "76004 RidExpiredError", id="expired"),
    pytest.param(["rid", "61768300-0badc0de-00000002"], 1, "76003", id="another account's"),
    pytest.param(["rid", "61768400-0badc0de-00000003"], 1, "76022", id="sns"),
    pytest.param(["open-account"], 0, "wxopen000000demo", id="bound"),
    pytest.param(["nickname-status", "1001"], 0, "PENDING (1)", id="pending"),
    pytest.param(["nickname-status", "1002"], 0, "REJECTED (2)", id="rejected"),
    pytest.param(["nickname-status", "1003"], 0, "APPROVED (3)", id="approved"),
    pytest.param(["nickname-status", "1004"], 1, "91011", id="no such audit"),
]


@pytest.mark.parametrize(("arguments", "exit_code", "shown"), SANDBOX)
def test_sandbox_commands_need_no_token_and_no_network(
    arguments: List[str], exit_code: int, shown: str
) -> None:
    result = run("--sandbox", *arguments, token=None)
    assert result.returncode == exit_code, result.stderr
    assert shown in result.stdout + result.stderr


def test_the_sandbox_can_act_as_the_unbound_account(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("sandbox-unbound-token")
    result = run("--sandbox", "--token-file", str(token_file), "open-account", token=None)
    assert result.returncode == 1
    assert "89002 OpenAccountNotBoundError" in result.stderr


def test_version_and_both_entry_points() -> None:
    assert run("--version").stdout == f"wechat-openapi {wechat_openapi.__version__}\n"
    script = subprocess.run(
        [str(CONSOLE_SCRIPT), "--sandbox", "open-account"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (script.returncode, script.stdout) == (0, "open_appid: wxopen000000demo\n")


def test_ctrl_c_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wechat_openapi import cli

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_open_account_command", interrupted)
    assert cli.main(["--sandbox", "open-account"]) == 130
    assert capsys.readouterr().err == ""


# Hostile inputs and closed outputs (issue 12, points 5 to 8) ---------------------------------


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: "/dev/zero", "not a regular file"),
        (lambda tmp: str(tmp), "not a regular file"),  # a directory
        (lambda tmp: make_fifo(tmp / "fifo"), "not a regular file"),
        (lambda tmp: write(tmp / "big", b"t" * 5000), "5000 bytes, over 4096"),
        (lambda tmp: write(tmp / "binary", b"\xff\xfe"), "not UTF-8 text"),
    ],
)
def test_the_token_file_must_be_a_small_regular_file(
    tmp_path: Path, make: Any, problem: str
) -> None:
    started = time.monotonic()
    result = run("--sandbox", "open-account", "--token-file", make(tmp_path), token=None)
    assert time.monotonic() - started < 20  # a FIFO with no writer never blocks it
    assert result.returncode == 2
    assert problem in result.stderr
    assert "regular file of at most 4096 bytes" in result.stderr
    assert_one_line_without_traceback(result.stderr)


def make_fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_a_closed_stdout_exits_141_without_a_traceback() -> None:
    command = [sys.executable, "-m", "wechat_openapi", "--sandbox", "demo"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        process.stdout.close()  # like `| head -0`: the reader is gone before the output comes
        try:
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:  # only when it hangs: the block's exit then waits
                process.kill()
    assert process.returncode == 141
    assert b"Traceback" not in err
    assert err == b""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_exits_74_with_one_line() -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "wechat_openapi", "--sandbox", "demo"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 74
    assert result.stderr == "wechat-openapi: cannot write the output: No space left on device\n"


def test_a_bug_in_output_code_is_not_reported_as_a_bad_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wechat_openapi import cli

    def broken(*args: Any) -> str:
        raise TypeError("a bug of ours")

    monkeypatch.setattr(cli, "_rid_text", broken)
    with pytest.raises(TypeError, match="a bug of ours"):
        cli.main(["--sandbox", "rid", "617682e0-09059ac5-34a8e2ea"])


def test_demo_without_the_sandbox_says_so_before_asking_for_a_token() -> None:
    result = run("demo", token=None)
    assert result.returncode == 2
    assert result.stderr == (
        "wechat-openapi: demo runs only against the sandbox: wechat-openapi --sandbox demo\n"
    )


def test_a_rid_is_taken_without_surrounding_spaces_and_bare_from_error() -> None:
    spaced = run("--sandbox", "--json", "rid", " 617682e0-09059ac5-34a8e2ea ", token=None)
    assert json.loads(spaced.stdout)["rid"] == "617682e0-09059ac5-34a8e2ea"
    bare = run("--sandbox", "rid", "--from-error", " 617682e0-09059ac5-34a8e2ea\n", token=None)
    assert bare.returncode == 0, bare.stderr
    assert "rid:          617682e0-09059ac5-34a8e2ea" in bare.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", " http://127.0.0.1:9", "open-account"], "must be an http(s) URL"),
        (["--sandbox", "open-account", "--appid", ""], "--appid must not be empty"),
        (["--sandbox", "nickname-status", "0"], "must be a positive whole number"),
        (["--sandbox", "--timeout", "-1", "open-account"], "positive number of seconds"),
        (["--sandbox", "--retries", "x", "open-account"], "a whole number, 0 or more"),
        (["--sandbox", "quota", "/a b"], "cgi_path must be an API path"),
        (["--sandbox", "quota", "/"], "cgi_path must be an API path"),
    ],
)
def test_bad_arguments_are_refused_at_parse_time_in_our_words(
    args: List[str], message: str
) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "pass None" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("rid", "the call's time, duration"),
        ("open-account", "default: left out"),
        ("nickname-status", "pending, rejected"),
        ("demo", "against the offline fake"),
    ],
)
def test_each_command_help_has_a_description_and_defaults(command: str, shown: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    assert shown in " ".join(result.stdout.split())
    assert "(default: 2)" in " ".join(result.stdout.split()) or command == "demo"
