"""The fake WeChat answers by the documented rules, from the data a test seeds."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Type

import pytest
import requests

import wechat_openapi as wo
from wechat_openapi import AuditStatus
from wechat_openapi.testing import RID_LIFETIME, Account, FakeWeChat, Fault

Scenario = Callable[[FakeWeChat, Account, wo.Client], Any]


def other_accounts_rid(fake: FakeWeChat, me: Account, client: wo.Client) -> Any:
    return client.get_rid_info(fake.add_rid(fake.add_account()))


def old_rid(fake: FakeWeChat, me: Account, client: wo.Client) -> Any:
    eight_days_ago = datetime.now(timezone.utc) - timedelta(days=8)
    return client.get_rid_info(fake.add_rid(me, invoke_time=eight_days_ago))


def aged_rid(fake: FakeWeChat, me: Account, client: wo.Client) -> Any:
    rid = fake.add_rid(me)
    fake.advance(RID_LIFETIME + 60)
    return client.get_rid_info(rid)


def sns_rid(fake: FakeWeChat, me: Account, client: wo.Client) -> Any:
    return client.get_rid_info(fake.add_rid(me, path="/sns/jscode2session"))


def unbound(fake: FakeWeChat, me: Account, client: wo.Client) -> Any:
    lonely = fake.add_account("wxlonely")
    return fake.client(lonely, max_retries=0).get_open_account()


def others_audit(fake: FakeWeChat, me: Account, client: wo.Client) -> Any:
    return client.query_nickname_status(fake.add_nickname_audit(fake.add_account(), "theirs"))


def expired_token(fake: FakeWeChat, me: Account, client: wo.Client) -> Any:
    fake.rotate_token(me)
    return client.get_open_account()


DOCUMENTED_ERRORS = [
    pytest.param(
        lambda fake, me, client: fake.client(
            Account("wx", "nobody's"), max_retries=0
        ).get_open_account(),
        wo.InvalidCredentialError,
        id="40001 unknown token",
    ),
    pytest.param(expired_token, wo.AccessTokenExpiredError, id="42001 rotated token"),
    pytest.param(
        lambda fake, me, client: client.get_rid_info("not-a-rid"),
        wo.InvalidRidError,
        id="76002 malformed rid",
    ),
    pytest.param(
        lambda fake, me, client: client.get_rid_info("00000000-00000000-00000000"),
        wo.RidNotFoundError,
        id="76001 unknown rid",
    ),
    pytest.param(other_accounts_rid, wo.RidPermissionDeniedError, id="76003 another's rid"),
    pytest.param(old_rid, wo.RidExpiredError, id="76004 seeded 8 days ago"),
    pytest.param(aged_rid, wo.RidExpiredError, id="76004 clock advanced"),
    pytest.param(sns_rid, wo.RidNotSupportedError, id="76022 /sns/ interface"),
    pytest.param(
        lambda fake, me, client: client.get_open_account("wxnotmine"),
        wo.InvalidAppIdError,
        id="40013 another appid",
    ),
    pytest.param(unbound, wo.OpenAccountNotBoundError, id="89002 not bound"),
    pytest.param(
        lambda fake, me, client: client.query_nickname_status(999),
        wo.NicknameAuditNotFoundError,
        id="91011 unknown audit",
    ),
    pytest.param(others_audit, wo.NicknameAuditNotFoundError, id="91011 another's audit"),
]


@pytest.mark.parametrize(("scenario", "error_class"), DOCUMENTED_ERRORS)
def test_documented_errors_come_from_the_seeded_data_with_a_queryable_rid(
    wechat_fake: FakeWeChat, account: Account, scenario: Scenario, error_class: Type[wo.APIError]
) -> None:
    client = wechat_fake.client(account, max_retries=0)

    with pytest.raises(error_class) as caught:
        scenario(wechat_fake, account, client)

    rid = caught.value.rid
    assert rid is not None
    assert caught.value.errmsg.endswith(f" rid: {rid}")
    record = wechat_fake.rids[rid]
    assert json.loads(record.response_body)["errcode"] == error_class.code
    assert record.path == caught.value.path


def test_a_rid_from_an_unknown_token_belongs_to_nobody(wechat_fake: FakeWeChat) -> None:
    with pytest.raises(wo.InvalidCredentialError) as caught:
        wechat_fake.client(Account("wx", "nobody's"), max_retries=0).get_open_account()
    assert wechat_fake.rids[caught.value.rid or ""].owner is None


def test_seeded_data_comes_back_as_typed_results(wechat_fake: FakeWeChat, account: Account) -> None:
    created = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
    rid = wechat_fake.add_rid(
        account,
        request_body='{"touser": "o1"}',
        response_body='{"errcode": 45009}',
        cost_in_ms=87,
        client_ip="10.1.2.3",
        invoke_time=wechat_fake.now() - 3600,
    )
    pending = wechat_fake.add_nickname_audit(account, "pending name", create_time=created)
    rejected = wechat_fake.add_nickname_audit(
        account,
        "bad name",
        audit_stat=AuditStatus.REJECTED,
        fail_reason="taken",
        create_time=created,
        audit_time=created + timedelta(hours=1),
        audit_id=77,
    )
    client = wechat_fake.client(account)

    info = client.get_rid_info(rid)
    assert (info.cost_in_ms, info.client_ip, info.request_json()) == (
        87,
        "10.1.2.3",
        {"touser": "o1"},
    )
    assert info.response_json() == {"errcode": 45009}
    assert client.get_open_account().open_appid == "wxopen"
    assert client.get_open_account("wxshop").open_appid == "wxopen"
    first = client.query_nickname_status(pending)
    assert (first.nickname, first.audit_stat, first.audit_time) == (
        "pending name",
        AuditStatus.PENDING,
        None,
    )
    second = client.query_nickname_status(rejected)
    assert rejected == 77
    assert (second.audit_stat, second.fail_reason) == (AuditStatus.REJECTED, "taken")
    assert second.audit_time == created + timedelta(hours=1)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_gets_47001(
    wechat_fake: FakeWeChat, account: Account, body: bytes
) -> None:
    answer = requests.post(
        f"{wechat_fake.url}/cgi-bin/open/get",
        params={"access_token": account.token},
        data=body,
        timeout=5,
    ).json()
    assert answer["errcode"] == 47001
    assert " rid: " in answer["errmsg"]


def test_an_unknown_path_is_a_404_page(wechat_fake: FakeWeChat, account: Account) -> None:
    response = requests.post(f"{wechat_fake.url}/cgi-bin/OpenAPI/rid/get", json={}, timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


def test_injected_faults_apply_to_the_next_n_matching_calls_only(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    wechat_fake.inject(Fault.quota_exceeded(), times=2, path="/wxa/api_wxa_querynickname")
    client = wechat_fake.client(account)
    audit = wechat_fake.add_nickname_audit(account, "name")

    assert client.get_open_account().open_appid == "wxopen"  # another path: untouched
    for _ in range(2):
        with pytest.raises(wo.QuotaExceededError):
            client.query_nickname_status(audit)
    assert client.query_nickname_status(audit).nickname == "name"


def test_an_injected_api_error_is_recorded_for_the_callers_account(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    wechat_fake.inject(Fault.api_error(48001, "api unauthorized"))
    client = wechat_fake.client(account)
    with pytest.raises(wo.APIError) as caught:
        client.get_open_account()
    assert caught.value.errcode == 48001
    assert client.get_rid_info(caught.value.rid or "").request_json() == {}


def test_the_request_log_and_connection_count(wechat_fake: FakeWeChat, account: Account) -> None:
    with wechat_fake.client(account) as client:
        client.get_open_account("wxshop")
    with wechat_fake.client(account) as another:
        another.get_open_account()

    first, second = wechat_fake.requests
    assert (first.path, first.token, first.json(), first.connection) == (
        "/cgi-bin/open/get",
        account.token,
        {"appid": "wxshop"},
        1,
    )
    assert second.connection == 2
    assert wechat_fake.connections == 2
    assert account.token not in repr(first)


def test_stopping_closes_the_server_and_its_open_connections(account: Account) -> None:
    fake = FakeWeChat().start()
    client = fake.client(fake.add_account(open_appid="wx1"), max_retries=0)
    assert client.get_open_account().open_appid == "wx1"
    fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(wo.TransportError):
        client.get_open_account()
    client.close()


def test_a_delay_is_cut_short_when_the_fake_stops(account: Account) -> None:
    with FakeWeChat() as fake:
        fake.inject(Fault.delay(60))
        client = fake.client(fake.add_account(open_appid="wx1"), timeout=(1, 0.3), max_retries=0)
        with pytest.raises(wo.RequestTimeoutError):
            client.get_open_account()
        client.close()


def test_huge_streams_stop_when_the_client_gives_up(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    wechat_fake.inject(Fault.huge(50 * 1024 * 1024, declare_length=True))
    with pytest.raises(wo.InvalidResponseError, match="over the"):
        wechat_fake.client(account).get_open_account()
    wechat_fake.inject(Fault.huge(50 * 1024 * 1024))
    with pytest.raises(wo.InvalidResponseError, match="over"):
        wechat_fake.client(account).get_open_account()
    assert wechat_fake.client(account).get_open_account().open_appid == "wxopen"


def test_an_unusual_status_still_gets_a_status_line(
    wechat_fake: FakeWeChat, account: Account
) -> None:
    wechat_fake.inject(Fault.respond(599, b"{}"))
    with pytest.raises(wo.InvalidResponseError, match="HTTP 599") as caught:
        wechat_fake.client(account, max_retries=0).get_open_account()
    assert caught.value.status_code == 599
