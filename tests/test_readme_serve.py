"""The README's recipes, unedited, against ``python -m wechat_openapi.testing serve`` in a
process of its own, configured only by the environment its ``export`` lines give (issue 18):
the Tokens section's cron snippet and its Django settings and ``myproject/wechat.py``, the
Cron recipe, and the platform's ``myproject/wechat.py`` with the README's store.

Each recipe runs in a fresh process, as it would in a project, with nothing of this test's
but that environment (and, for the platform, the ticket WeChat would push it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from tests.serve_support import Served, environment, serving
from tests.test_readme import README, python_blocks
from wechat_openapi._sandbox import APPROVED_AUDIT, DEMO_OPEN_APPID, PENDING_AUDIT
from wechat_openapi.testing._control import OPERATIONS


def block(section: str, first_line: str) -> str:
    """The python block of the README ``section`` that opens with ``first_line``."""
    (found,) = [code for code in python_blocks(section) if code.startswith(first_line)]
    return found


def run(
    served: Served, arguments: List[str], cwd: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        env={**environment(served), **extra},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tokens_cron_snippet_runs_against_serve(tmp_path: Path) -> None:
    (snippet,) = [
        code
        for code in python_blocks("Tokens")
        if 'Client.from_stable_token(os.environ["WECHAT_APPID"], os.environ["WECHAT_SECRET"])'
        in code
    ]
    (tmp_path / "cron.py").write_text(snippet)
    with serving() as served:
        result = run(served, ["cron.py"], tmp_path)
        assert (result.returncode, result.stdout) == (0, f"{DEMO_OPEN_APPID}\n"), result.stderr
        counts = served.counts()
    assert counts["requests"] == {"/cgi-bin/open/get": 1, "/cgi-bin/stable_token": 1}
    assert counts["token_fetches"]["stable_token"] == {"normal": 1, "force_refresh": 0}


@pytest.mark.parametrize(
    ("audit", "exit_code", "nickname"),
    [(APPROVED_AUDIT, 0, "Demo Shop"), (PENDING_AUDIT, 3, "演示小程序")],
)
def test_the_cron_recipe_runs_against_serve(
    tmp_path: Path, audit: int, exit_code: int, nickname: str
) -> None:
    (tmp_path / "check_audit.py").write_text(python_blocks("Cron recipe")[0])
    with serving() as served:
        result = run(served, ["check_audit.py", str(audit)], tmp_path)
        assert result.returncode == exit_code, result.stderr
        assert result.stdout.startswith(f"{nickname} ")
        assert served.counts()["requests"] == {"/wxa/api_wxa_querynickname": 1}


DJANGO_CALL = """
import django

django.setup()
from myproject.wechat import wechat

print(wechat.get_open_account().open_appid)
"""


def test_the_tokens_django_recipe_runs_against_serve_and_shares_one_token(
    tmp_path: Path,
    redis_url: str,
) -> None:
    """Two processes in turn, each a fresh Django with the README's settings and module:
    one stable_token fetch between them, through the Redis cache. The settings' Redis is the
    reader's (127.0.0.1:6379); this test's runs on a free port, the one line added."""
    settings = block("Tokens", "# settings.py")
    (tmp_path / "settings.py").write_text(
        settings + f'\nCACHES["default"]["LOCATION"] = {redis_url!r}  # the test\'s Redis\n'
    )
    (tmp_path / "myproject").mkdir()
    (tmp_path / "myproject" / "__init__.py").write_text("")
    (tmp_path / "myproject" / "wechat.py").write_text(block("Tokens", "# myproject/wechat.py"))
    (tmp_path / "call.py").write_text(DJANGO_CALL)
    with serving() as served:
        for _ in range(2):
            result = run(served, ["call.py"], tmp_path, DJANGO_SETTINGS_MODULE="settings")
            assert (result.returncode, result.stdout) == (0, f"{DEMO_OPEN_APPID}\n"), result.stderr
        counts = served.counts()
    assert counts["requests"] == {"/cgi-bin/open/get": 2, "/cgi-bin/stable_token": 1}
    assert counts["token_fetches"]["stable_token"] == {"normal": 1, "force_refresh": 0}


# The platform's settings, as a project keeps them: from the environment serve exported.
PLATFORM_SETTINGS = """import os

COMPONENT_APPID = os.environ["COMPONENT_APPID"]
COMPONENT_SECRET = os.environ["COMPONENT_SECRET"]
PUSH_TOKEN = os.environ["PUSH_TOKEN"]
ENCODING_AES_KEY = os.environ["ENCODING_AES_KEY"]

"""

# A fresh Django with the README's store, then what WeChat does and what a view does: the
# ticket push (signed and encrypted with the keys serve printed), and a call for an account
# that authorized the platform, its refresh token in the store.
PLATFORM_CALL = """
import os
import sys
import time

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["myapp"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}},
)
django.setup()
from django.db import connection

from myapp.models import Authorizer, RefreshTokens, VerifyTicket

with connection.schema_editor() as editor:
    editor.create_model(Authorizer)
    editor.create_model(VerifyTicket)

from myproject.wechat import open_appid_of, platform
from wechat_openapi.testing import build_push

ticket, authorizer_appid, refresh_token = sys.argv[1:]
push = build_push(
    [
        ("AppId", os.environ["COMPONENT_APPID"]),
        ("CreateTime", str(int(time.time()))),
        ("InfoType", "component_verify_ticket"),
        ("ComponentVerifyTicket", ticket),
    ],
    push_token=os.environ["PUSH_TOKEN"],
    encoding_aes_key=os.environ["ENCODING_AES_KEY"],
    appid=os.environ["COMPONENT_APPID"],
)
platform.handle_push(push.body, **push.params)
RefreshTokens().save(authorizer_appid, refresh_token)
print(open_appid_of(authorizer_appid))
"""


def test_the_platform_recipe_runs_against_serve(tmp_path: Path) -> None:
    for name, code in {
        "myapp/__init__.py": "",
        "myapp/models.py": block("Third-party platforms", "# myapp/models.py"),
        "myproject/__init__.py": "",
        "myproject/wechat.py": PLATFORM_SETTINGS
        + block("Third-party platforms", "# myproject/wechat.py"),
        "call.py": PLATFORM_CALL,
    }.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(code)
    with serving() as served:
        report = served.report()
        component = report["components"][0]
        authorizer = component["authorizers"][1]
        bound: Dict[str, str] = {a["appid"]: a["open_appid"] for a in report["accounts"]}
        arguments = [component["ticket"], authorizer["appid"], authorizer["refresh_token"]]
        result = run(served, ["call.py", *arguments], tmp_path)
        expected = f"{bound[authorizer['appid']]}\n"
        assert (result.returncode, result.stdout) == (0, expected), result.stderr
        counts = served.counts()
    assert counts["requests"] == {
        "/cgi-bin/component/api_authorizer_token": 1,
        "/cgi-bin/component/api_component_token": 1,
        "/cgi-bin/open/get": 1,
    }


def test_the_readme_shows_the_export_lines_serve_prints() -> None:
    section = README.split("## Testing your code\n", 1)[1].split("\n## ", 1)[0]
    shown = re.search(r"```sh\n(export WECHAT_OPENAPI_BASE_URL=.*?)```", section, re.S)
    assert shown is not None
    with serving() as served:
        printed = [line for line in served.lines if line.startswith("export ")]
    assert shown.group(1).replace("http://127.0.0.1:8100", served.url).splitlines() == printed


def test_the_readme_documents_every_control_path_with_its_method() -> None:
    """Each path as the README shows it: GET for the reports (which take POST too)."""
    section = README.split("## Testing your code\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(GET|POST) (/_fake/[a-z/]+)`", section))
    assert documented == {(methods[0], path) for path, (methods, _) in OPERATIONS.items()}
