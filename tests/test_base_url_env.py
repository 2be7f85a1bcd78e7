"""WECHAT_OPENAPI_BASE_URL: the default base_url of Client and ComponentPlatform, read when one
is built, so that a program written for WeChat runs against the fake (or a relay) unedited.
Calls go over real sockets to fakes on 127.0.0.1."""

from __future__ import annotations

from typing import Any, Callable, Dict

import pytest

import wechat_openapi as wo
from tests.platform_support import Store
from tests.test_cli import run
from wechat_openapi.testing import FakeWeChat

VARIABLE = "WECHAT_OPENAPI_BASE_URL"


def _platform(**options: Any) -> wo.ComponentPlatform:
    return wo.ComponentPlatform("wxplatform", "platform-secret", refresh_tokens=Store(), **options)


BUILDERS: Dict[str, Callable[..., Any]] = {
    "Client": lambda **options: wo.Client(access_token="token", **options),
    "Client.from_stable_token": lambda **options: wo.Client.from_stable_token(
        "wxshop", "shop-secret", **options
    ),
    "ComponentPlatform": _platform,
}


def settings_of(built: Any) -> Any:
    return built._client._settings if isinstance(built, wo.ComponentPlatform) else built._settings


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_the_default_is_the_variable_when_set_and_wechat_otherwise(
    monkeypatch: pytest.MonkeyPatch, builder: str
) -> None:
    assert settings_of(BUILDERS[builder]()).base_url == "https://api.weixin.qq.com"
    monkeypatch.setenv(VARIABLE, "")
    assert settings_of(BUILDERS[builder]()).base_url == "https://api.weixin.qq.com"
    monkeypatch.setenv(VARIABLE, "http://127.0.0.1:8100/")
    assert settings_of(BUILDERS[builder]()).base_url == "http://127.0.0.1:8100"
    assert settings_of(BUILDERS[builder](base_url=None)).base_url == "http://127.0.0.1:8100"


def test_clients_and_platforms_built_with_it_set_call_there(
    monkeypatch: pytest.MonkeyPatch, wechat_fake: FakeWeChat
) -> None:
    shop = wechat_fake.add_account("wxshop", secret="shop-secret", open_appid="wxopen-shop")
    wechat_fake.add_component("wxplatform", secret="platform-secret")
    monkeypatch.setenv(VARIABLE, wechat_fake.url)  # after the import: read at construction
    with wo.Client(access_token=shop.token) as client:
        assert client.get_open_account().open_appid == "wxopen-shop"
    with wo.Client.from_stable_token("wxshop", "shop-secret") as client:
        assert client.get_open_account().open_appid == "wxopen-shop"
    platform = _platform()
    platform.start_push_ticket()
    platform.close()
    assert [request.path for request in wechat_fake.requests] == [
        "/cgi-bin/open/get",
        "/cgi-bin/stable_token",
        "/cgi-bin/open/get",
        "/cgi-bin/component/api_start_push_ticket",
    ]


def test_it_is_read_when_each_client_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "http://127.0.0.1:8101")
    first = wo.Client(access_token="token")
    monkeypatch.setenv(VARIABLE, "http://127.0.0.1:8102/relay/")
    second = wo.Client(access_token="token")
    assert first._settings.base_url == "http://127.0.0.1:8101"
    assert second._settings.base_url == "http://127.0.0.1:8102/relay"
    assert first.with_options(deadline=5)._settings.base_url == "http://127.0.0.1:8101"


@pytest.mark.parametrize("bad", [False, True])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_an_explicit_base_url_wins_and_the_variable_is_then_not_read(
    monkeypatch: pytest.MonkeyPatch, builder: str, bad: bool
) -> None:
    monkeypatch.setenv(VARIABLE, "not a url" if bad else "http://127.0.0.1:8101")
    if bad:
        with pytest.raises(ValueError, match=VARIABLE):
            BUILDERS[builder]()
    else:
        assert settings_of(BUILDERS[builder]()).base_url == "http://127.0.0.1:8101"
    chosen = BUILDERS[builder](base_url="http://127.0.0.1:8102")
    assert settings_of(chosen).base_url == "http://127.0.0.1:8102"


@pytest.mark.parametrize(
    "value", ["not a url", "ftp://127.0.0.1", "http://127.0.0.1:8100/?q=1", "http://", " "]
)
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_bad_value_is_a_value_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, builder: str, value: str
) -> None:
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(ValueError, match=f"^{VARIABLE} must be an http\\(s\\) URL") as caught:
        BUILDERS[builder]()
    assert repr(value) in str(caught.value)


def test_the_command_line_honours_it(wechat_fake: FakeWeChat) -> None:
    shop = wechat_fake.add_account("wxshop", open_appid="wxopen-shop")
    result = run("open-account", token=shop.token, env={VARIABLE: wechat_fake.url})
    assert (result.returncode, result.stderr) == (0, "")
    assert "wxopen-shop" in result.stdout


def test_the_command_line_names_a_bad_value_and_exits_2() -> None:
    result = run("open-account", token="token", env={VARIABLE: "api.weixin.qq.com"})
    assert result.returncode == 2
    assert result.stderr == (
        f"wechat-openapi: {VARIABLE} must be an http(s) URL without a query, "
        "got 'api.weixin.qq.com'\n"
    )


def test_the_sandbox_ignores_it_where_the_command_line_honours_it(
    wechat_fake: FakeWeChat,
) -> None:
    """The sandbox's embedded fake is the point: the variable that sends the same command
    elsewhere without --sandbox redirects the sandbox neither to another server nor into a
    usage error."""
    wechat_fake.add_account("wxshop", token="shop-token", open_appid="wxopen-shop")
    for value, exit_code in [(wechat_fake.url, 0), ("not a url", 2)]:
        honoured = run("open-account", token="shop-token", env={VARIABLE: value})
        assert honoured.returncode == exit_code
        ignored = run("--sandbox", "open-account", token=None, env={VARIABLE: value})
        assert (ignored.returncode, ignored.stderr) == (0, "")
        assert "wxopen000000demo" in ignored.stdout
    assert [request.path for request in wechat_fake.requests] == ["/cgi-bin/open/get"]
