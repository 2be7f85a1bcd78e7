"""Bad arguments fail before any request, with a message naming the argument."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests
import responses

from tests.conftest import MOCK_BASE
from wechat_openapi import Client

BAD_CALLS = [
    pytest.param(lambda c: c.get_rid_info(""), ValueError, "rid", id="empty rid"),
    pytest.param(lambda c: c.get_rid_info("  \n"), ValueError, "rid", id="blank rid"),
    pytest.param(lambda c: c.get_rid_info(None), TypeError, "rid", id="None rid"),
    pytest.param(lambda c: c.get_rid_info(123), TypeError, "rid", id="int rid"),
    pytest.param(lambda c: c.get_rid_info(b"a-b-c"), TypeError, "rid", id="bytes rid"),
    pytest.param(lambda c: c.get_open_account(""), ValueError, "appid", id="empty appid"),
    pytest.param(lambda c: c.get_open_account(" "), ValueError, "appid", id="blank appid"),
    pytest.param(lambda c: c.get_open_account(42), TypeError, "appid", id="int appid"),
    pytest.param(lambda c: c.query_nickname_status("12"), TypeError, "audit_id", id="str id"),
    pytest.param(lambda c: c.query_nickname_status(True), TypeError, "audit_id", id="bool id"),
    pytest.param(lambda c: c.query_nickname_status(1.0), TypeError, "audit_id", id="float id"),
    pytest.param(lambda c: c.query_nickname_status(None), TypeError, "audit_id", id="None id"),
    pytest.param(lambda c: c.query_nickname_status(0), ValueError, "audit_id", id="zero id"),
    pytest.param(lambda c: c.query_nickname_status(-5), ValueError, "audit_id", id="negative"),
    # A lone surrogate cannot be sent as UTF-8: named, not a bare UnicodeEncodeError.
    pytest.param(lambda c: c.get_rid_info("a-\ud800-c"), ValueError, "rid", id="surrogate rid"),
    pytest.param(lambda c: c.get_open_account("wx\udfff"), ValueError, "appid", id="surrogate"),
    pytest.param(lambda c: c.clear_quota("wx\ud800"), ValueError, "appid", id="surrogate quota"),
    pytest.param(
        lambda c: c.get_api_quota("/cgi-bin/\ud800"), ValueError, "cgi_path", id="surrogate path"
    ),
]


@pytest.mark.parametrize(("call", "error", "argument"), BAD_CALLS)
def test_bad_arguments_raise_before_any_request(
    mocked: responses.RequestsMock,
    client: Client,
    call: Callable[[Client], Any],
    error: type[Exception],
    argument: str,
) -> None:
    with pytest.raises(error, match=argument):
        call(client)
    assert len(mocked.calls) == 0


BAD_OPTIONS = [
    pytest.param({"timeout": None}, TypeError, "timeout", id="timeout None"),
    pytest.param({"timeout": 0}, ValueError, "timeout", id="timeout zero"),
    pytest.param({"timeout": -1.0}, ValueError, "timeout", id="timeout negative"),
    pytest.param({"timeout": float("inf")}, ValueError, "timeout", id="timeout infinite"),
    pytest.param({"timeout": True}, TypeError, "timeout", id="timeout bool"),
    pytest.param({"timeout": (1, 2, 3)}, ValueError, "timeout", id="timeout triple"),
    pytest.param({"timeout": (1, None)}, TypeError, "read", id="read timeout None"),
    pytest.param({"deadline": None}, TypeError, "deadline", id="deadline None"),
    pytest.param({"deadline": 0}, ValueError, "deadline", id="deadline zero"),
    pytest.param({"max_retries": -1}, ValueError, "max_retries", id="retries negative"),
    pytest.param({"max_retries": 1.5}, TypeError, "max_retries", id="retries float"),
    pytest.param({"max_response_bytes": 0}, ValueError, "max_response_bytes", id="cap zero"),
    pytest.param({"base_url": "api.weixin.qq.com"}, ValueError, "base_url", id="no scheme"),
    pytest.param({"base_url": "ftp://x"}, ValueError, "base_url", id="ftp"),
    pytest.param({"base_url": "https://x/?a=1"}, ValueError, "base_url", id="query"),
    pytest.param({"base_url": 5}, TypeError, "base_url", id="base_url int"),
    pytest.param({"base_url": b"https://x"}, TypeError, "base_url", id="base_url bytes"),
    pytest.param({"session": object()}, TypeError, "session", id="not a session"),
    pytest.param({"user_agent": 5}, TypeError, "user_agent", id="user_agent int"),
    pytest.param({"user_agent": "a\r\nX-Evil: 1"}, ValueError, "user_agent", id="CR LF"),
    pytest.param({"user_agent": "agent\n"}, ValueError, "user_agent", id="user_agent LF"),
    pytest.param({"user_agent": "agent\x00"}, ValueError, "user_agent", id="user_agent NUL"),
    pytest.param({"user_agent": " agent"}, ValueError, "user_agent", id="leading space"),
    pytest.param({"user_agent": "\u5fae\u4fe1"}, ValueError, "user_agent", id="not Latin-1"),
    pytest.param({"base_url": "http://[::1"}, ValueError, "base_url", id="unclosed IPv6"),
    pytest.param({"base_url": "http://127.0.0.1:99999"}, ValueError, "base_url", id="port"),
    pytest.param({"base_url": "http://127.0.0.1:0"}, ValueError, "base_url", id="port zero"),
    pytest.param({"base_url": "http://127.0.0.1:http"}, ValueError, "base_url", id="port name"),
    pytest.param({"base_url": "http://h/\r\nx"}, ValueError, "base_url", id="CR LF in URL"),
    pytest.param({"base_url": "http://:80"}, ValueError, "base_url", id="no host"),
    pytest.param({"access_token": "tok\ud800en"}, ValueError, "access_token", id="surrogate"),
]


@pytest.mark.parametrize(("options", "error", "argument"), BAD_OPTIONS)
def test_bad_options_are_refused_when_the_client_is_built(
    options: Any, error: type[Exception], argument: str
) -> None:
    options.setdefault("base_url", MOCK_BASE)
    options.setdefault("access_token", "token")
    with pytest.raises(error, match=argument):
        Client(**options)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://user:pa55w0rd-of-the-relay@127.0.0.1:9",
        "https://pa55w0rd-of-the-relay@127.0.0.1",
        "ftp://user:pa55w0rd-of-the-relay@127.0.0.1/",
        "http://user:pa55w0rd-of-the-relay@127.0.0.1/?q=1",
    ],
)
def test_a_base_url_with_credentials_is_refused_without_showing_them(base_url: str) -> None:
    """They would not be sent, and would show in repr(client) and every TransportError."""
    with pytest.raises(ValueError, match="base_url") as caught:
        Client(access_token="token", base_url=base_url)
    assert "pa55w0rd" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_a_surrogate_in_a_secret_is_named_but_not_shown() -> None:
    with pytest.raises(ValueError, match="secret holds a character") as caught:
        Client.clear_quota_by_app_secret("wxappid", "s3cret\udc80", base_url=MOCK_BASE)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("timeout", [3, 2.5, (1, 4), (0.5, 10.0)])
def test_good_timeouts_are_accepted(timeout: Any) -> None:
    with Client(access_token="token", base_url=MOCK_BASE, timeout=timeout) as client:
        connect, read = (timeout, timeout) if not isinstance(timeout, tuple) else timeout
        assert client._settings.connect_timeout == connect
        assert client._settings.read_timeout == read


def test_the_default_timeout_is_a_pair_of_a_few_seconds_and_a_deadline_is_set() -> None:
    with Client(access_token="token") as client:
        settings = client._settings
        assert 0 < settings.connect_timeout <= 10
        assert 0 < settings.read_timeout <= 15
        # A call, token fetch included, ends well inside gunicorn's default 30 s worker timeout.
        assert settings.deadline == 20
        assert settings.max_retries == 2
        assert settings.base_url == "https://api.weixin.qq.com"
        assert isinstance(client._transport.session, requests.Session)
