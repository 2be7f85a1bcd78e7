"""The README's code runs as written (against a loopback server, never WeChat)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

import wechat_openapi
from tests.scripted_server import ScriptedServer, json_reply

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def python_block(after_heading: str) -> str:
    section = README.split(f"## {after_heading}\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, f"no python block under {after_heading!r}"
    return found.group(1)


@pytest.fixture
def on_loopback(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    """Make the README's ``Client(...)`` talk to the scripted server."""
    real = wechat_openapi.Client
    monkeypatch.setattr(wechat_openapi, "Client", functools.partial(real, base_url=server.url))
    return server


RECORD = {
    "invoke_time": 1635927956,
    "cost_in_ms": 100,
    "request_url": "access_token=xxx&",
    "request_body": "",
    "response_body": '{"errcode":45009,"errmsg":"reach max api daily quota limit"}',
    "client_ip": "113.0.70.51",
}


@pytest.mark.parametrize(
    ("answer", "printed"),
    [
        (
            {"errcode": 0, "errmsg": "ok", "request": RECORD},
            "2021-11-03 08:25:56+00:00 100 ms "
            "{'errcode': 45009, 'errmsg': 'reach max api daily quota limit'}\n",
        ),
        ({"errcode": 76004, "errmsg": "rid time is error"}, "that rid is older than 7 days\n"),
        (
            {"errcode": 76003, "errmsg": "no permission"},
            "lookup failed: 76003 no permission (the rid belongs to another account: "
            "query it with that account's token)\n",
        ),
    ],
)
def test_quickstart_runs_as_written(
    on_loopback: ScriptedServer, capsys: pytest.CaptureFixture[str], answer: Any, printed: str
) -> None:
    on_loopback.script(json_reply(answer))
    exec(python_block("Quickstart"), {})
    assert capsys.readouterr().out == printed
    assert on_loopback.seen[0].json() == {"rid": "617682e0-09059ac5-34a8e2ea"}
    assert "access_token=ACCESS_TOKEN" in on_loopback.seen[0].target


@pytest.mark.parametrize(
    ("answer", "exit_code"),
    [
        ({"nickname": "n", "audit_stat": 3, "create_time": 1, "audit_time": 2}, 0),
        ({"nickname": "n", "audit_stat": 2, "create_time": 1, "fail_reason": "taken"}, 1),
        ({"nickname": "n", "audit_stat": 1, "create_time": 1}, 3),
        ({"errcode": 91011, "errmsg": "not found"}, 2),
    ],
)
def test_cron_recipe_exits_with_the_documented_codes(
    on_loopback: ScriptedServer, monkeypatch: pytest.MonkeyPatch, answer: Any, exit_code: int
) -> None:
    monkeypatch.setenv("WECHAT_ACCESS_TOKEN", "cron-token")
    monkeypatch.setattr("sys.argv", ["check_audit.py", "12345"])
    on_loopback.script(json_reply(answer))
    with pytest.raises(SystemExit) as exited:
        exec(python_block("Cron recipe"), {"__name__": "__main__"})
    assert exited.value.code == exit_code
    assert on_loopback.seen[0].json() == {"audit_id": 12345}


def test_the_test_command_is_marked_for_ci() -> None:
    marker = "<!-- test-command: .ci/run runs the line below -->\n```sh\n"
    assert marker in README
    command = README.split(marker, 1)[1].split("\n", 1)[0]
    assert "pytest" in command
    assert "mypy --strict wechat_openapi" in command
    assert "ruff format --check" in command
