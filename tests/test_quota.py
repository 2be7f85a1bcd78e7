"""The quota half of the debugging loop: quota/get, clear_quota and clear_quota/v2, against
the fake over real sockets, and the command line's quota and clear-quota."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any, List

import pytest

import wechat_openapi as wo
from tests.conftest import TOKEN
from tests.test_redaction import texts_of
from wechat_openapi.testing import Account, FakeWeChat, Fault

QUOTA_GET = "/cgi-bin/openapi/quota/get"
CLEAR = "/cgi-bin/clear_quota"
OPEN_GET = "/cgi-bin/open/get"
APPID = "wxSENTINELQUOTA01"
SECRET = "SENTINELQUOTASECRET0123456789abcd"


@pytest.fixture
def shop(wechat_fake: FakeWeChat) -> Account:
    return wechat_fake.add_account(APPID, token=TOKEN, open_appid="wxopen", secret=SECRET)


@pytest.fixture
def client(wechat_fake: FakeWeChat, shop: Account) -> wo.Client:
    return wechat_fake.client(shop)


def test_the_quota_of_an_api_with_its_rate_limit(
    wechat_fake: FakeWeChat, shop: Account, client: wo.Client
) -> None:
    wechat_fake.set_quota(shop, OPEN_GET, daily_limit=500, used=20, rate_limit=(100, 60))
    quota = client.get_api_quota(OPEN_GET)
    assert quota == wo.ApiQuota(500, 20, 480, wo.RateLimit(100, 60), None)
    assert wechat_fake.requests[-1].json() == {"cgi_path": OPEN_GET}


@pytest.mark.parametrize(
    "given",
    [
        "/cgi-bin/message/custom/send",
        "cgi-bin/message/custom/send",
        " /cgi-bin/message/custom/send ",
        "https://api.weixin.qq.com/cgi-bin/message/custom/send?access_token=x",
    ],
)
def test_a_cgi_path_is_normalised(wechat_fake: FakeWeChat, client: wo.Client, given: str) -> None:
    client.get_api_quota(given)
    assert wechat_fake.requests[-1].json() == {"cgi_path": "/cgi-bin/message/custom/send"}


@pytest.mark.parametrize(
    ("given", "error"), [("", ValueError), ("/", ValueError), ("/a b", ValueError), (5, TypeError)]
)
def test_a_bad_cgi_path_is_refused_before_sending(
    wechat_fake: FakeWeChat, client: wo.Client, given: Any, error: Any
) -> None:
    with pytest.raises(error, match="cgi_path must be"):
        client.get_api_quota(given)
    assert wechat_fake.requests == []


@pytest.mark.parametrize(
    ("cgi_path", "error_class"),
    [("/cgi-bin/ä", wo.QuotaPathNotFoundError), ("/sns/jscode2session", wo.QuotaNotQueryableError)],
)
def test_quota_errors_have_their_own_classes(
    client: wo.Client, cgi_path: str, error_class: Any
) -> None:
    with pytest.raises(error_class) as caught:
        client.get_api_quota(cgi_path)
    assert caught.value.path == QUOTA_GET
    assert not isinstance(caught.value, wo.RidNotSupportedError)  # 76022 means another thing


@pytest.mark.parametrize(
    "cgi_path", ["cgi-bin/message/custom/send", "https://api.weixin.qq.com/cgi-bin/token"]
)
def test_a_cgi_path_without_its_leading_slash_is_76003_a_malformed_path(
    wechat_fake: FakeWeChat, shop: Account, cgi_path: str
) -> None:
    """The client adds the '/' itself; the fake answers as the docs say when it is missing."""
    import requests

    answer = requests.post(
        f"{wechat_fake.url}{QUOTA_GET}",
        params={"access_token": TOKEN},
        json={"cgi_path": cgi_path},
        timeout=5,
    ).json()
    assert answer["errcode"] == 76003
    error = wo.errors.api_error(answer["errcode"], answer["errmsg"], QUOTA_GET)
    assert type(error) is wo.QuotaPathMalformedError
    assert not isinstance(error, wo.RidPermissionDeniedError)


def test_a_used_up_quota_raises_45009_naming_the_path_and_a_reset_clears_it(
    wechat_fake: FakeWeChat, shop: Account, client: wo.Client
) -> None:
    wechat_fake.set_quota(shop, OPEN_GET, daily_limit=1)
    client.get_open_account()
    with pytest.raises(wo.QuotaExceededError) as caught:
        client.get_open_account()
    assert caught.value.path == OPEN_GET
    assert f"get_api_quota({OPEN_GET})" in str(caught.value)
    assert f"wechat-openapi quota {OPEN_GET}" in str(caught.value)
    assert client.get_api_quota(OPEN_GET).remain == 0

    client.clear_quota(APPID)
    assert wechat_fake.requests[-1].json() == {"appid": APPID}
    assert client.get_api_quota(OPEN_GET).remain == 1
    assert client.get_open_account().open_appid == "wxopen"


def test_ten_resets_a_month_then_48006(client: wo.Client) -> None:
    for _ in range(10):
        client.clear_quota(APPID)
    with pytest.raises(wo.ClearQuotaLimitError, match="10 quota resets"):
        client.clear_quota(APPID)


def test_a_reset_is_never_retried(wechat_fake: FakeWeChat, client: wo.Client) -> None:
    wechat_fake.inject(Fault.system_busy(), path=CLEAR)
    with pytest.raises(wo.SystemBusyError):
        client.clear_quota(APPID)
    assert [r.path for r in wechat_fake.requests] == [CLEAR]


def test_clear_quota_of_another_account_gets_40013(client: wo.Client) -> None:
    with pytest.raises(wo.InvalidAppIdError):
        client.clear_quota("wxsomeoneelse")


def test_clear_quota_defaults_to_the_token_sources_account(
    wechat_fake: FakeWeChat, shop: Account, client: wo.Client
) -> None:
    with pytest.raises(ValueError, match="pass appid"):
        client.clear_quota()  # a fixed token does not say whose it is
    stable = wo.Client.from_stable_token(APPID, SECRET, base_url=wechat_fake.url)
    stable.clear_quota()
    assert wechat_fake.requests[-1].json() == {"appid": APPID}


def test_clear_quota_by_app_secret_needs_no_token(wechat_fake: FakeWeChat, shop: Account) -> None:
    wechat_fake.set_quota(shop, OPEN_GET, daily_limit=5, used=5)
    wo.Client.clear_quota_by_app_secret(APPID, SECRET, base_url=wechat_fake.url)
    (request,) = wechat_fake.requests
    assert request.path == "/cgi-bin/clear_quota/v2"
    assert request.token == ""
    assert request.json() == {"appid": APPID, "appsecret": SECRET}
    assert wechat_fake.client(shop).get_api_quota(OPEN_GET).remain == 5


@pytest.mark.parametrize(
    ("appid", "secret", "error_class"),
    [(APPID, "wrong-secret", wo.APIError), ("wxnobody", SECRET, wo.InvalidAppIdError)],
)
def test_clear_quota_by_app_secret_errors(
    wechat_fake: FakeWeChat, shop: Account, appid: str, secret: str, error_class: Any
) -> None:
    with pytest.raises(error_class):
        wo.Client.clear_quota_by_app_secret(appid, secret, base_url=wechat_fake.url)


def test_the_appid_and_secret_of_v2_appear_nowhere(
    wechat_fake: FakeWeChat, shop: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3's records quote the URL
    texts: List[str] = []
    for fault in [
        Fault.api_error(48006, f"no more resets for {APPID} with {SECRET}"),
        Fault.respond(502, f"<html>{SECRET}</html>".encode()),
        Fault.respond(200, f"not json {APPID} {SECRET}".encode()),
        Fault.reset(),
    ]:
        wechat_fake.inject(fault, times=3)
        with pytest.raises(wo.WeChatError) as caught:
            wo.Client.clear_quota_by_app_secret(
                APPID, SECRET, base_url=wechat_fake.url, max_retries=0
            )
        error = caught.value
        texts += texts_of(error)
    with pytest.raises(wo.TransportError) as refused:
        wo.Client.clear_quota_by_app_secret(APPID, SECRET, base_url="http://127.0.0.1:9")
    texts.append(str(refused.value))
    texts += [record.getMessage() for record in caplog.records]
    assert any("appsecret=***" in text for text in texts)
    for text in texts:
        assert SECRET not in text
        assert APPID not in text


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wechat_openapi", "--sandbox", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_the_quota_command_text_and_json() -> None:
    text = run_cli("quota", "https://api.weixin.qq.com/cgi-bin/message/template/send")
    assert text.returncode == 0, text.stderr
    assert "remaining:    0" in text.stdout
    assert "rate limit:   2000 calls per 60 s" in text.stdout
    assert "clear-quota --appid APPID" in text.stdout
    machine = run_cli("--json", "quota", "/cgi-bin/message/template/send")
    assert '"remain": 0' in machine.stdout
    bad = run_cli("quota", "/sns/jscode2session")
    assert bad.returncode == 1
    assert "76022 QuotaNotQueryableError" in bad.stderr


def test_clear_quota_asks_first_and_takes_yes() -> None:
    refused = run_cli("clear-quota", "--appid", "wxdemo0000000001")
    assert refused.returncode == 2
    assert "add --yes to confirm" in refused.stderr
    done = run_cli("clear-quota", "--appid", "wxdemo0000000001", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "every API quota of wxdemo0000000001 is reset\n"
    other = run_cli("clear-quota", "--appid", "wxsomeoneelse", "--yes")
    assert other.returncode == 1
    assert "40013 InvalidAppIdError" in other.stderr


def test_clear_quota_confirms_at_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import io

    from wechat_openapi import cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for answer, code in [("n\n", 2), ("y\n", 0)]:
        monkeypatch.setattr(sys, "stdin", Terminal(answer))
        assert cli.main(["--sandbox", "clear-quota", "--appid", "wxdemo0000000001"]) == code
        assert "spends one of its 10 resets this month. [y/N]" in capsys.readouterr().err


def test_a_quota_error_rid_points_to_the_quota_command_and_the_demo_shows_the_loop() -> None:
    looked_up = run_cli("rid", "617682e0-09059ac5-34a8e2ea")
    assert "Next: wechat-openapi quota CGI_PATH" in looked_up.stdout
    other = run_cli("rid", "617682e0-1a2b3c4d-5e6f7a8b")
    assert "wechat-openapi quota" not in other.stdout
    demo = run_cli("demo")
    assert "4. Yesterday's 617682e0-09059ac5-34a8e2ea was a 45009" in demo.stdout
    assert "used 100000 of 100000 today; 0 left" in demo.stdout
