"""The README's code runs as written (against a loopback server, never WeChat)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, List

import pytest

import wechat_openapi
from wechat_openapi.testing import FakeWeChat, Fault

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def python_blocks(heading: str) -> List[str]:
    """The python code blocks of the README section under ``## heading``."""
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, f"no python block under {heading!r}"
    return blocks


def python_block(heading: str) -> str:
    return python_blocks(heading)[0]


@pytest.fixture
def on_loopback(wechat_fake: FakeWeChat, monkeypatch: pytest.MonkeyPatch) -> FakeWeChat:
    """Make the README's ``Client(...)`` and ``Client.from_stable_token(...)`` talk to the
    fake WeChat."""

    class OnTheFake(wechat_openapi.Client):
        def __init__(self, **options: Any) -> None:
            options.setdefault("base_url", wechat_fake.url)
            super().__init__(**options)

        @classmethod
        def from_stable_token(cls, appid: str, secret: str, **options: Any) -> Any:
            options.setdefault("base_url", wechat_fake.url)
            return super().from_stable_token(appid, secret, **options)

    monkeypatch.setattr(wechat_openapi, "Client", OnTheFake)
    return wechat_fake


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
    on_loopback: FakeWeChat, capsys: pytest.CaptureFixture[str], answer: Any, printed: str
) -> None:
    on_loopback.inject(Fault.respond(200, json.dumps(answer).encode()))
    exec(python_block("Quickstart"), {})
    assert capsys.readouterr().out == printed
    assert on_loopback.requests[0].json() == {"rid": "617682e0-09059ac5-34a8e2ea"}
    assert "access_token=ACCESS_TOKEN" in on_loopback.requests[0].target


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
    on_loopback: FakeWeChat, monkeypatch: pytest.MonkeyPatch, answer: Any, exit_code: int
) -> None:
    monkeypatch.setenv("WECHAT_ACCESS_TOKEN", "cron-token")
    monkeypatch.setattr("sys.argv", ["check_audit.py", "12345"])
    on_loopback.inject(Fault.respond(200, json.dumps(answer).encode()))
    with pytest.raises(SystemExit) as exited:
        exec(python_block("Cron recipe"), {"__name__": "__main__"})
    assert exited.value.code == exit_code
    assert on_loopback.requests[0].json() == {"audit_id": 12345}


@pytest.mark.parametrize(
    ("argv", "token"),
    [
        (["check_audit.py", "abc"], "cron-token"),
        (["check_audit.py", "0"], "cron-token"),
        (["check_audit.py", "-5"], "cron-token"),
        (["check_audit.py", "²"], "cron-token"),
        (["check_audit.py"], "cron-token"),
        (["check_audit.py", "1", "2"], "cron-token"),
        (["check_audit.py", "12345"], None),
        (["check_audit.py", "12345"], " "),
    ],
)
def test_cron_recipe_exits_2_for_bad_input_or_no_token_without_a_traceback(
    on_loopback: FakeWeChat,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: List[str],
    token: Any,
) -> None:
    if token is None:
        monkeypatch.delenv("WECHAT_ACCESS_TOKEN", raising=False)
    else:
        monkeypatch.setenv("WECHAT_ACCESS_TOKEN", token)
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exited:
        exec(python_block("Cron recipe"), {"__name__": "__main__"})
    assert exited.value.code == 2
    assert capsys.readouterr().err == "usage: WECHAT_ACCESS_TOKEN=... check_audit.py AUDIT_ID\n"
    assert on_loopback.requests == []


def marked_command(name: str) -> str:
    marker = f"<!-- {name}: .ci/run runs the line below -->\n```sh\n"
    assert marker in README
    return README.split(marker, 1)[1].split("\n", 1)[0]


def test_the_two_set_up_commands_open_the_readme_and_are_marked_for_ci() -> None:
    """The test command runs every nox session; the noxfile holds pytest, ruff and mypy."""
    run_command, test_command = marked_command("run-command"), marked_command("test-command")
    assert README.index(run_command) < README.index("## What it is")
    assert README.index(test_command) < README.index("## What it is")
    assert run_command.endswith("&& wechat-openapi --sandbox demo")
    assert test_command.endswith("&& pip install nox && nox")


def test_the_testing_section_enables_the_plugin_with_one_line() -> None:
    line = python_blocks("Testing your code")[0].strip()
    assert line == 'pytest_plugins = ["wechat_openapi.testing.pytest_plugin"]'
    exec(line, {})


@pytest.mark.parametrize(
    "name", ["test_unbound_accounts_are_reported", "test_busy_wechat_is_retried"]
)
def test_the_testing_section_examples_pass_as_written(name: str) -> None:
    namespace: dict = {}
    exec(python_blocks("Testing your code")[1], namespace)
    with FakeWeChat() as fake:
        namespace[name](fake)


def test_the_stable_token_cron_snippet_runs_as_written(
    on_loopback: FakeWeChat, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    on_loopback.add_account("wxcron", secret="cron-secret", open_appid="wxopen-cron")
    monkeypatch.setenv("WECHAT_APPID", "wxcron")
    monkeypatch.setenv("WECHAT_SECRET", "cron-secret")
    exec(python_blocks("Tokens")[0], {})
    assert capsys.readouterr().out == "wxopen-cron\n"
    assert [r.path for r in on_loopback.requests] == ["/cgi-bin/stable_token", "/cgi-bin/open/get"]


def test_nox_runs_every_check_the_issues_ask_for() -> None:
    noxfile = (Path(__file__).parent.parent / "noxfile.py").read_text(encoding="utf-8")
    for check in [
        '"ruff", "check"',
        '"ruff", "format", "--check"',
        '"mypy", "--strict", "wechat_openapi"',
        '"vermin", "--target=3.8-"',
        '"pytest"',
        "constraints",
        '"twine", "check"',
        '"--sandbox", "demo"',
    ]:
        assert check in noxfile
    assert 'nox.options.sessions = ["lint", "pythons", "package"]' in noxfile
    assert 'PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]' in noxfile


def test_the_many_accounts_block_shares_one_connection(on_loopback: FakeWeChat) -> None:
    accounts = [on_loopback.add_account(open_appid=f"wxopen{i}") for i in range(50)]
    namespace: dict = {"PLATFORM_TOKEN": "platform"}
    exec(python_block("Many accounts"), namespace)
    answers = [namespace["open_appid_of"](account.token) for account in accounts]
    assert answers == [f"wxopen{i}" for i in range(50)]
    assert on_loopback.connections == 1


def test_the_django_recipe_with_an_empty_cache_raises_token_unavailable(
    on_loopback: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    import django.core.cache

    monkeypatch.setattr(django.core.cache, "cache", {}, raising=False)  # .get(key) gives None
    namespace: dict = {}
    exec(python_blocks("Django recipe")[1], namespace)
    with pytest.raises(wechat_openapi.TokenUnavailableError, match="returned None"):
        namespace["wechat"].get_open_account()
    assert on_loopback.requests == []


def test_the_third_party_platform_block_runs_on_one_connection(
    wechat_fake: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache.backends.locmem import LocMemCache

    component = wechat_fake.add_component("wxplatform")
    shop = wechat_fake.add_account("wxshop", open_appid="wxopen-shop")
    saved = {"wxshop": wechat_fake.authorize(component, shop)}

    class RefreshTokens:
        def load(self, authorizer_appid: str) -> Any:
            return saved.get(authorizer_appid)

        def save(self, authorizer_appid: str, refresh_token: str) -> None:
            saved[authorizer_appid] = refresh_token

    class OnTheFake(wechat_openapi.ComponentPlatform):
        def __init__(self, *args: Any, **options: Any) -> None:
            super().__init__(*args, base_url=wechat_fake.url, **options)

    import django.core.cache

    models = types.ModuleType("myapp.models")
    models.RefreshTokens = RefreshTokens  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "myapp", types.ModuleType("myapp"))
    monkeypatch.setitem(sys.modules, "myapp.models", models)
    monkeypatch.setattr(django.core.cache, "cache", LocMemCache("readme-platform", {}), False)
    monkeypatch.setattr(wechat_openapi, "ComponentPlatform", OnTheFake)
    namespace = {
        "COMPONENT_APPID": "wxplatform",
        "COMPONENT_SECRET": component.secret,
        "PUSH_TOKEN": component.push_token,
        "ENCODING_AES_KEY": component.encoding_aes_key,
    }
    exec(python_blocks("Third-party platforms")[2], namespace)
    with pytest.raises(wechat_openapi.TokenUnavailableError):
        namespace["open_appid_of"]("wxshop")  # no push yet: WeChat is asked to resume them
    assert [request.path for request in wechat_fake.requests] == [
        "/cgi-bin/component/api_start_push_ticket"
    ]
    push = wechat_fake.ticket_push(component)
    namespace["platform"].handle_push(push.body, **push.params)
    assert namespace["open_appid_of"]("wxshop") == "wxopen-shop"
    assert wechat_fake.connections == 1


STORE_SCRIPT = """
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["myapp"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
from django.db import connection

from myapp.models import Authorizer, RefreshTokens, VerifyTicket

with connection.schema_editor() as editor:
    editor.create_model(Authorizer)
    editor.create_model(VerifyTicket)
store = RefreshTokens()
assert store.load("wxshop") is None
store.save("wxshop", "first")
store.save("wxshop", "rotated")
assert store.load("wxshop") == "rotated"
assert Authorizer.objects.count() == 1
store.delete("wxshop")
assert store.load("wxshop") is None
assert store.load_ticket() is None
store.save_ticket("ticket@@@1", 1700000000.0)
store.save_ticket("ticket@@@2", 1700000600.0)
assert store.load_ticket() == ("ticket@@@2", 1700000600.0)
assert VerifyTicket.objects.count() == 1
print("ok")
"""


def test_the_django_model_refresh_token_store_works_as_written(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "models.py").write_text(python_blocks("Third-party platforms")[0])
    (tmp_path / "check_store.py").write_text(STORE_SCRIPT)
    result = subprocess.run(
        [sys.executable, "check_store.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout == "ok\n", result.stderr


SQLITE_SCRIPT = """
import subprocess
import sys
from pathlib import Path

import django
from django.conf import settings

BASE_DIR = Path(sys.argv[1])
namespace = {"BASE_DIR": BASE_DIR}
exec(Path(sys.argv[2]).read_text(), namespace)
settings.configure(DATABASES=namespace["DATABASES"])
django.setup()
from django.db import connection

with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0])
    cursor.execute("PRAGMA busy_timeout")
    print(cursor.fetchone()[0])
"""


def test_the_sqlite_settings_give_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    """On Django 5.1 and newer, as the README says; older Djangos (the newest for Python 3.8
    and 3.9 is 4.2) refuse these options, so there the block is only checked to be valid."""
    import subprocess

    import django

    block = python_blocks("Third-party platforms")[1]
    if django.VERSION < (5, 1):
        compile(block, "settings.py", "exec")
        return
    (tmp_path / "settings_block.py").write_text(block)
    (tmp_path / "check_sqlite.py").write_text(SQLITE_SCRIPT)
    result = subprocess.run(
        [sys.executable, "check_sqlite.py", str(tmp_path), "settings_block.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["wal", "1000"], result.stderr


def test_the_quota_block_runs_against_the_fake(wechat_fake: FakeWeChat) -> None:
    shop = wechat_fake.add_account("wx1234567890", open_appid="wxopen")
    wechat_fake.set_quota(shop, "/cgi-bin/message/custom/send", daily_limit=10, used=10)
    client = wechat_fake.client(shop)
    namespace = {"client": client, "print": lambda *values: None}
    exec(python_blocks("Quickstart")[1], namespace)
    assert namespace["quota"].remain == 0  # read before the reset
    assert client.get_api_quota("/cgi-bin/message/custom/send").remain == 10


def test_the_wsgi_module_builds_the_django_client_before_any_request(tmp_path: Path) -> None:
    """gunicorn --preload loads ``myproject.wsgi`` before it forks: the README's wsgi.py
    must import the client module then, not leave it to the first request."""
    wsgi, wechat_module, _ = python_blocks("Django recipe")
    package = tmp_path / "myproject"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text('SECRET_KEY = "test"\nALLOWED_HOSTS = ["*"]\n')
    (package / "wechat.py").write_text(wechat_module)
    (package / "wsgi.py").write_text(wsgi)
    check = "import sys, myproject.wsgi; print('myproject.wechat' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(  # kills it, waits and closes its pipes on a timeout too
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
