"""Onboarding, account info, the authorizer list and the component quota resets, against the
fake WeChat over real sockets."""

from __future__ import annotations

import pickle
from typing import Any, Dict, List
from urllib.parse import parse_qs, urlsplit

import pytest

import wechat_openapi as wo
from tests.platform_support import (
    AUTHORIZER_TOKEN,
    COMPONENT_APPID,
    COMPONENT_SECRET,
    COMPONENT_TOKEN,
    OPEN_GET,
    Store,
    paths,
    platform,
)
from wechat_openapi.testing import Account, Component, FakeWeChat, Fault

PREAUTHCODE = "/cgi-bin/component/api_create_preauthcode"
QUERY_AUTH = "/cgi-bin/component/api_query_auth"
AUTHORIZER_INFO = "/cgi-bin/component/api_get_authorizer_info"
AUTHORIZER_LIST = "/cgi-bin/component/api_get_authorizer_list"
CLEAR_QUOTA = "/cgi-bin/component/clear_quota"
CLEAR_QUOTA_V2 = "/cgi-bin/component/clear_quota/v2"
REDIRECT = "https://platform.example/wechat/authorized/?next=/shop&x=a b"


@pytest.fixture
def tenant(wechat_fake: FakeWeChat, component: Component) -> wo.ComponentPlatform:
    made = platform(wechat_fake, Store())
    made.set_verify_ticket(wechat_fake.issue_ticket(component))
    return made


def query_of(url: str) -> Dict[str, List[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_the_pc_authorization_url_carries_a_fresh_pre_auth_code_each_time(
    wechat_fake: FakeWeChat, tenant: wo.ComponentPlatform
) -> None:
    first = tenant.authorization_url(REDIRECT)
    second = tenant.authorization_url(REDIRECT)

    assert first.startswith("https://mp.weixin.qq.com/cgi-bin/componentloginpage?")
    query = query_of(first)
    assert query == {
        "component_appid": [COMPONENT_APPID],
        "pre_auth_code": query["pre_auth_code"],
        "redirect_uri": [REDIRECT],
        "auth_type": ["3"],
    }
    assert "x%3Da%20b" in first  # every parameter is encoded, spaces included
    assert query["pre_auth_code"] != query_of(second)["pre_auth_code"]
    assert paths(wechat_fake) == [COMPONENT_TOKEN, PREAUTHCODE, PREAUTHCODE]
    assert wechat_fake.requests[1].json() == {"component_appid": COMPONENT_APPID}


def test_the_mobile_url_and_biz_appid_winning_over_auth_type(
    tenant: wo.ComponentPlatform,
) -> None:
    url = tenant.authorization_url(REDIRECT, auth_type=2, biz_appid="wxshop", mobile=True)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "mp.weixin.qq.com",
        "/safe/bindcomponent",
    )
    assert parts.fragment == "wechat_redirect"
    query = query_of(url)
    assert query["action"] == ["bindcomponent"]
    assert query["no_scan"] == ["1"]
    assert query["biz_appid"] == ["wxshop"]
    assert "auth_type" not in query
    assert query_of(tenant.authorization_url(REDIRECT, auth_type=1))["auth_type"] == ["1"]


@pytest.mark.parametrize(
    ("arguments", "error", "names"),
    [
        ({"redirect_uri": ""}, TypeError, "redirect_uri"),
        ({"redirect_uri": "ftp://platform.example/"}, ValueError, "redirect_uri"),
        ({"auth_type": 0}, ValueError, "auth_type"),
        ({"auth_type": True}, TypeError, "auth_type"),
        ({"auth_type": "3"}, TypeError, "auth_type"),
        ({"biz_appid": " "}, TypeError, "biz_appid"),
    ],
)
def test_bad_authorization_url_arguments_are_refused_before_any_call(
    wechat_fake: FakeWeChat, arguments: Dict[str, Any], error: type, names: str
) -> None:
    tenant = platform(wechat_fake, Store())
    options: Dict[str, Any] = {"redirect_uri": REDIRECT, **arguments}
    redirect_uri = options.pop("redirect_uri")
    with pytest.raises(error, match=names):
        tenant.authorization_url(redirect_uri, **options)
    assert wechat_fake.requests == []


def test_completing_an_authorization_saves_the_refresh_token_and_seeds_the_token(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    store = Store()
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    code = wechat_fake.authorization_code(component, shop, func_info=(1, 15, 18))

    authorization = tenant.complete_authorization(code)

    assert authorization.authorizer_appid == "wxshop"
    assert authorization.func_info == (1, 15, 18)
    assert authorization.has_tokens
    assert store.tokens == {"wxshop": component.authorizations["wxshop"].refresh_token}
    for secret in (code, authorization.authorizer_refresh_token, store.tokens["wxshop"]):
        assert secret is not None
        assert secret not in repr(authorization)
    assert wechat_fake.requests[-1].json() == {
        "component_appid": COMPONENT_APPID,
        "authorization_code": code,
    }
    # The first call for the account fetches no token: it was seeded.
    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert AUTHORIZER_TOKEN not in paths(wechat_fake)
    assert paths(wechat_fake) == [COMPONENT_TOKEN, QUERY_AUTH, OPEN_GET]


def test_an_account_that_granted_no_permission_gets_no_tokens_and_nothing_is_saved(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    store = Store()
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    authorization = tenant.complete_authorization(
        wechat_fake.authorization_code(component, shop, func_info=())
    )

    assert authorization == wo.Authorization("wxshop", ())
    assert not authorization.has_tokens
    assert store.saved == []


@pytest.mark.parametrize(
    ("spoil", "error"),
    [
        ("use it twice", wo.AuthorizationCodeInvalidError),
        ("let it expire", wo.AuthorizationCodeExpiredError),
        ("make one up", wo.AuthorizationCodeInvalidError),
    ],
)
def test_a_used_expired_or_unknown_code_has_its_own_error(
    wechat_fake: FakeWeChat,
    component: Component,
    shop: Account,
    tenant: wo.ComponentPlatform,
    spoil: str,
    error: type,
) -> None:
    code = wechat_fake.authorization_code(component, shop)
    if spoil == "use it twice":
        tenant.complete_authorization(code)
    elif spoil == "let it expire":
        wechat_fake.advance(3601)
    else:
        code = "queryauthcode@@@made-up"
    with pytest.raises(error) as caught:
        tenant.complete_authorization(code)
    assert isinstance(caught.value, wo.ComponentError)
    assert caught.value.path == QUERY_AUTH
    assert code not in str(caught.value)
    assert code not in repr(caught.value)
    assert code.encode() not in pickle.dumps(caught.value)


def test_authorizer_info_of_an_official_account_and_a_mini_program(
    wechat_fake: FakeWeChat, component: Component, tenant: wo.ComponentPlatform
) -> None:
    shop = wechat_fake.add_account("wxshop", profile={"nick_name": "My Shop"})
    mini = wechat_fake.add_account("wxmini", mini_program=True)
    for account in (shop, mini):
        wechat_fake.authorize(component, account)

    info = tenant.get_authorizer_info("wxshop")
    assert info.authorizer_appid == "wxshop"
    assert info.nick_name == "My Shop"
    assert info.user_name.startswith("gh_")
    assert isinstance(info.service_type, int)
    assert isinstance(info.verify_type, int)
    assert info.func_info
    assert all(isinstance(i, int) for i in info.func_info)
    assert not info.is_mini_program
    assert info.authorizer_refresh_token == component.authorizations["wxshop"].refresh_token
    assert info.authorizer_refresh_token not in repr(info)

    mini_info = tenant.get_authorizer_info("wxmini")
    assert mini_info.is_mini_program
    assert mini_info.mini_program_info is not None
    assert wechat_fake.requests[-1].json() == {
        "component_appid": COMPONENT_APPID,
        "authorizer_appid": "wxmini",
    }


def test_authorizer_info_of_an_account_that_never_authorized_is_61003(
    tenant: wo.ComponentPlatform,
) -> None:
    with pytest.raises(wo.ComponentNotAuthorizedError):
        tenant.get_authorizer_info("wxstranger")


def test_the_authorizer_list_pages_on_past_short_pages_to_total_count(
    wechat_fake: FakeWeChat,
) -> None:
    component = wechat_fake.add_component(COMPONENT_APPID, secret=COMPONENT_SECRET, list_page_cap=3)
    appids = [f"wxaccount{index}" for index in range(7)]
    for appid in appids:
        wechat_fake.authorize(component, wechat_fake.add_account(appid))
    gone = wechat_fake.add_account("wxgone")
    wechat_fake.authorize(component, gone)
    wechat_fake.revoke(component, gone)
    tenant = platform(wechat_fake, Store())
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    listings = list(tenant.iter_authorizers())

    assert sorted(listing.authorizer_appid for listing in listings) == appids
    assert all(
        listing.refresh_token == component.authorizations[listing.authorizer_appid].refresh_token
        for listing in listings
    )
    assert all(listing.auth_time.tzinfo is not None for listing in listings)
    assert all(listing.refresh_token not in repr(listing) for listing in listings)
    asked = [r.json() for r in wechat_fake.requests if r.path == AUTHORIZER_LIST]
    assert [(page["offset"], page["count"]) for page in asked] == [(0, 500), (3, 500), (6, 500)]


def test_an_empty_authorizer_list_is_one_call(
    wechat_fake: FakeWeChat, tenant: wo.ComponentPlatform
) -> None:
    assert list(tenant.iter_authorizers()) == []
    assert paths(wechat_fake).count(AUTHORIZER_LIST) == 1


def test_a_list_page_with_no_entries_ends_the_walk_even_before_total_count(
    wechat_fake: FakeWeChat, tenant: wo.ComponentPlatform
) -> None:
    body = b'{"errcode": 0, "errmsg": "ok", "total_count": 9, "list": []}'
    wechat_fake.inject(Fault.respond(200, body), path=AUTHORIZER_LIST)
    assert list(tenant.iter_authorizers()) == []
    assert paths(wechat_fake).count(AUTHORIZER_LIST) == 1


def test_a_45009_on_the_component_token_points_to_the_reset_that_needs_no_token(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    wechat_fake.set_quota(component.account, COMPONENT_TOKEN, daily_limit=1, used=1)
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    with pytest.raises(wo.ComponentQuotaExceededError) as caught:
        tenant.client("wxshop").get_open_account()
    assert isinstance(caught.value, wo.QuotaExceededError)
    assert "clear_quota_by_component_secret()" in str(caught.value)

    tenant.clear_quota_by_component_secret()
    assert wechat_fake.requests[-1].json() == {
        "component_appid": COMPONENT_APPID,
        "appsecret": COMPONENT_SECRET,
    }
    assert wechat_fake.requests[-1].token == ""  # no token at all
    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"


def test_the_component_quota_reset_with_the_component_token_and_for_an_account(
    wechat_fake: FakeWeChat, component: Component, shop: Account, store: Store
) -> None:
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    tenant.clear_quota()
    assert paths(wechat_fake)[-1] == CLEAR_QUOTA
    assert wechat_fake.requests[-1].json() == {"component_appid": COMPONENT_APPID}

    tenant.clear_quota_by_component_secret(appid="wxshop")
    assert wechat_fake.requests[-1].json()["appid"] == "wxshop"


@pytest.mark.parametrize("reset", ["clear_quota", "clear_quota_by_component_secret"])
def test_the_component_quota_resets_are_never_retried(
    wechat_fake: FakeWeChat, component: Component, store: Store, reset: str
) -> None:
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    tenant.component_client()  # the component token is fetched by the first reset itself
    path = CLEAR_QUOTA if reset == "clear_quota" else CLEAR_QUOTA_V2
    wechat_fake.inject(Fault.system_busy(), path=path)
    with pytest.raises(wo.SystemBusyError):
        getattr(tenant, reset)()
    assert paths(wechat_fake).count(path) == 1


def test_the_component_secret_appears_in_no_reset_error(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    echo = Fault.api_error(40125, f"invalid appsecret {COMPONENT_SECRET}")
    wechat_fake.inject(echo, path=CLEAR_QUOTA_V2)
    tenant = platform(wechat_fake, store)
    with pytest.raises(wo.InvalidComponentSecretError) as caught:
        tenant.clear_quota_by_component_secret()
    assert COMPONENT_SECRET not in str(caught.value)
    assert COMPONENT_SECRET not in caught.value.errmsg


LONG_SECRET = "LEAKED" + "x" * 40


@pytest.mark.parametrize(
    ("path", "answer", "problem"),
    [
        (QUERY_AUTH, {}, "'authorization_info' is missing"),
        (QUERY_AUTH, {"authorization_info": [LONG_SECRET]}, "is not an object"),
        (QUERY_AUTH, {"authorization_info": {"authorizer_appid": ""}}, "is empty"),
        (
            QUERY_AUTH,
            {"authorization_info": {"authorizer_appid": "wxa", "func_info": LONG_SECRET}},
            "'func_info' is not a list",
        ),
        (
            QUERY_AUTH,
            {"authorization_info": {"authorizer_appid": "wxa", "func_info": [{"id": 1}]}},
            "without funcscope_category",
        ),
        (
            QUERY_AUTH,
            {
                "authorization_info": {
                    "authorizer_appid": "wxa",
                    "authorizer_refresh_token": LONG_SECRET,
                    "authorizer_access_token": LONG_SECRET + "2",
                    "expires_in": [LONG_SECRET],
                }
            },
            "'expires_in' is not an integer",
        ),
        (PREAUTHCODE, {"expires_in": 1800}, "'pre_auth_code' is missing"),
        (AUTHORIZER_LIST, {"list": []}, "'total_count' is missing"),
        (AUTHORIZER_LIST, {"total_count": 1, "list": [LONG_SECRET]}, "not a list of objects"),
        (
            AUTHORIZER_LIST,
            {"total_count": 1, "list": [{"authorizer_appid": "wxa", "auth_time": 1}]},
            "'refresh_token' is missing",
        ),
        (
            AUTHORIZER_LIST,
            {"total_count": 1, "list": [{"authorizer_appid": "", "refresh_token": LONG_SECRET}]},
            "'authorizer_appid' is empty",
        ),
        (AUTHORIZER_INFO, {"authorization_info": {}}, "'authorizer_info' is missing"),
        (
            AUTHORIZER_INFO,
            {"authorizer_info": {"MiniProgramInfo": LONG_SECRET}, "authorization_info": {}},
            "'MiniProgramInfo' is not an object",
        ),
        (
            AUTHORIZER_INFO,
            {"authorizer_info": {"business_info": 1}, "authorization_info": {}},
            "'business_info' is not an object",
        ),
        (
            AUTHORIZER_INFO,
            {
                "authorizer_info": {"service_type_info": 2},
                "authorization_info": {"authorizer_appid": "wxa"},
            },
            "'service_type_info' is not an object",
        ),
    ],
)
def test_a_bad_answer_is_a_clear_error_that_shows_no_secret_of_it(
    wechat_fake: FakeWeChat,
    tenant: wo.ComponentPlatform,
    path: str,
    answer: Dict[str, Any],
    problem: str,
) -> None:
    import json

    body = json.dumps({"errcode": 0, "errmsg": "ok", **answer}).encode()
    wechat_fake.inject(Fault.respond(200, body), path=path)
    call = {
        QUERY_AUTH: lambda: tenant.complete_authorization("code"),
        PREAUTHCODE: lambda: tenant.authorization_url(REDIRECT),
        AUTHORIZER_LIST: lambda: list(tenant.iter_authorizers()),
        AUTHORIZER_INFO: lambda: tenant.get_authorizer_info("wxa"),
    }[path]
    with pytest.raises(wo.InvalidResponseError) as caught:
        call()
    assert problem in str(caught.value)
    assert caught.value.path == path
    assert "LEAKED" not in str(caught.value)


def test_an_info_answer_without_type_ids_gives_none(
    wechat_fake: FakeWeChat, tenant: wo.ComponentPlatform
) -> None:
    import json

    answer = {
        "errcode": 0,
        "authorizer_info": {"nick_name": "n", "service_type_info": {}},
        "authorization_info": {"authorizer_appid": "wxa"},
    }
    wechat_fake.inject(Fault.respond(200, json.dumps(answer).encode()), path=AUTHORIZER_INFO)
    info = tenant.get_authorizer_info("wxa")
    assert (info.service_type, info.verify_type, info.func_info) == (None, None, ())
    assert info.authorizer_refresh_token is None
