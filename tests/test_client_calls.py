"""Each method sends the documented request and returns its typed model."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

import wechat_openapi
from tests.conftest import MOCK_BASE, TOKEN, MakeClient, answer
from wechat_openapi import AuditStatus, Client, NicknameAudit, OpenAccount, RidInfo

RID_RECORD = {
    "invoke_time": 1635927956,
    "cost_in_ms": 100,
    "request_url": "access_token=OLDTOKEN&",
    "request_body": "",
    "response_body": '{"errcode":45009,"errmsg":"reach max api daily quota limit rid: 1-2-3"}',
    "client_ip": "113.0.70.51",
}


def sent(mock: responses.RequestsMock, index: int = -1) -> responses.Call:
    return mock.calls[index]


def test_get_rid_info_posts_the_rid_and_parses_the_nested_record(
    mocked: responses.RequestsMock, client: Client
) -> None:
    answer(
        mocked, "/cgi-bin/openapi/rid/get", {"errcode": 0, "errmsg": "ok", "request": RID_RECORD}
    )

    info = client.get_rid_info(" 617682e0-09059ac5-34a8e2ea\n")

    request = sent(mocked).request
    url = urlsplit(request.url or "")
    assert request.method == "POST"
    assert url.path == "/cgi-bin/openapi/rid/get"
    assert parse_qs(url.query) == {"access_token": [TOKEN]}
    assert json.loads(request.body or b"") == {"rid": "617682e0-09059ac5-34a8e2ea"}
    assert isinstance(info, RidInfo)
    assert info.invoke_time == datetime(2021, 11, 3, 8, 25, 56, tzinfo=timezone.utc)
    assert info.cost_in_ms == 100
    assert info.client_ip == "113.0.70.51"
    assert info.response_json() == {
        "errcode": 45009,
        "errmsg": "reach max api daily quota limit rid: 1-2-3",
    }
    assert info.request_json() is None


def test_get_open_account_sends_an_empty_object_without_appid(
    mocked: responses.RequestsMock, client: Client
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"open_appid": "wxopen123", "errcode": 0, "errmsg": "ok"})

    assert client.get_open_account() == OpenAccount(open_appid="wxopen123")
    assert json.loads(sent(mocked).request.body or b"") == {}


def test_get_open_account_sends_the_appid_when_given(
    mocked: responses.RequestsMock, client: Client
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"open_appid": "wxopen123", "errcode": 0, "errmsg": "ok"})

    client.get_open_account("wxauth")

    assert json.loads(sent(mocked).request.body or b"") == {"appid": "wxauth"}


def test_query_nickname_status_posts_the_audit_id_and_parses_times(
    mocked: responses.RequestsMock, client: Client
) -> None:
    answer(
        mocked,
        "/wxa/api_wxa_querynickname",
        {
            "errcode": 0,
            "errmsg": "ok",
            "nickname": "小程序",
            "audit_stat": 2,
            "fail_reason": "名称不合规",
            "create_time": 1519724071,
            "audit_time": "1519724950",
        },
    )

    audit = client.query_nickname_status(12345)

    assert json.loads(sent(mocked).request.body or b"") == {"audit_id": 12345}
    assert audit == NicknameAudit(
        nickname="小程序",
        audit_stat=AuditStatus.REJECTED,
        fail_reason="名称不合规",
        create_time=datetime(2018, 2, 27, 9, 34, 31, tzinfo=timezone.utc),
        audit_time=datetime(2018, 2, 27, 9, 49, 10, tzinfo=timezone.utc),
    )


def test_request_body_is_utf8_json_without_ascii_escapes(
    mocked: responses.RequestsMock, client: Client
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"open_appid": "wxopen123"})

    client.get_open_account("应用")

    request = sent(mocked).request
    assert request.body == '{"appid": "应用"}'.encode()
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"


def test_default_user_agent_names_the_library_and_version(
    mocked: responses.RequestsMock, client: Client
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"open_appid": "wxopen123"})
    client.get_open_account()
    agent = sent(mocked).request.headers["User-Agent"]
    assert agent.startswith(f"wechat-openapi/{wechat_openapi.__version__} ")


def test_user_agent_option_replaces_the_default(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"open_appid": "wxopen123"})
    make_client(user_agent="my-cron/2.0").get_open_account()
    assert sent(mocked).request.headers["User-Agent"] == "my-cron/2.0"


def test_json_sent_as_text_plain_is_parsed(mocked: responses.RequestsMock, client: Client) -> None:
    mocked.add(
        responses.POST,
        MOCK_BASE + "/cgi-bin/open/get",
        body='{"open_appid": "wxopen123", "errcode": 0}',
        content_type="text/plain",
    )
    assert client.get_open_account().open_appid == "wxopen123"


def test_base_url_with_a_path_prefix_and_trailing_slash(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    mocked.add(responses.POST, MOCK_BASE + "/proxy/cgi-bin/open/get", json={"open_appid": "x"})
    client = make_client(base_url=MOCK_BASE + "/proxy/")
    assert client.get_open_account().open_appid == "x"


def test_injected_session_headers_are_sent_and_the_session_is_left_open(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    import requests

    session = requests.Session()
    session.headers["X-Trace"] = b"abc"  # type: ignore[assignment]
    answer(mocked, "/cgi-bin/open/get", {"open_appid": "wxopen123"})
    client = make_client(session=session)
    client.get_open_account()
    client.close()
    assert sent(mocked).request.headers["X-Trace"] == "abc"
    assert session.adapters  # close() left the user's session alone


def test_client_is_a_context_manager_and_refuses_calls_once_closed(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    with make_client() as client:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        client.get_open_account()
    client.close()  # idempotent
    assert len(mocked.calls) == 0


def test_repr_shows_the_base_url_but_not_the_token(make_client: MakeClient) -> None:
    text = repr(make_client())
    assert MOCK_BASE in text
    assert TOKEN not in text
    provided = repr(make_client(token_provider=lambda: TOKEN))
    assert "CallableToken" in provided
    assert TOKEN not in provided
