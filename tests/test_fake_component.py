"""The fake WeChat's third-party platform endpoints, over real sockets: authorization codes,
authorizer details and lists, and the platform's quota resets, by WeChat's documented rules."""

from __future__ import annotations

import base64
from typing import Any, Callable, Dict, List, Optional

import pytest
import requests

from wechat_openapi.testing import TOKEN_LIFETIME, Account, Component, FakeWeChat

COMPONENT_TOKEN = "/cgi-bin/component/api_component_token"
AUTHORIZER_TOKEN = "/cgi-bin/component/api_authorizer_token"
PRE_AUTH_CODE = "/cgi-bin/component/api_create_preauthcode"
QUERY_AUTH = "/cgi-bin/component/api_query_auth"
AUTHORIZER_INFO = "/cgi-bin/component/api_get_authorizer_info"
AUTHORIZER_LIST = "/cgi-bin/component/api_get_authorizer_list"
CLEAR_QUOTA = "/cgi-bin/component/clear_quota"
CLEAR_QUOTA_V2 = "/cgi-bin/component/clear_quota/v2"
START_PUSH_TICKET = "/cgi-bin/component/api_start_push_ticket"
OPEN_GET = "/cgi-bin/open/get"
APPID = "wxplatform"
SECRET = "platform-secret-0123456789abcdef"

Answer = Dict[str, Any]


def post(fake: FakeWeChat, path: str, body: Any, token: Optional[str] = None) -> Answer:
    """POST ``body`` as JSON (bytes as they are) to the fake, the token in the query string."""
    params = {"component_access_token": token} if token is not None else {}
    if isinstance(body, bytes):
        response = requests.post(fake.url + path, params=params, data=body, timeout=5)
    else:
        response = requests.post(fake.url + path, params=params, json=body, timeout=5)
    assert response.status_code == 200
    answer: Answer = response.json()
    return answer


def assert_error(fake: FakeWeChat, answer: Answer, errcode: int, owner: Optional[Account]) -> None:
    """An error as the fake makes them: WeChat's code, and an errmsg ending in a rid that
    rid/get finds under the caller's account."""
    assert answer["errcode"] == errcode, answer
    errmsg, rid = answer["errmsg"].rsplit(" rid: ", 1)
    assert errmsg
    assert fake.rids[rid].owner is owner


@pytest.fixture
def component(wechat_fake: FakeWeChat) -> Component:
    return wechat_fake.add_component(APPID, secret=SECRET)


@pytest.fixture
def shop(wechat_fake: FakeWeChat) -> Account:
    return wechat_fake.add_account("wxshop", open_appid="wxopen-shop")


def component_token(fake: FakeWeChat, component: Component) -> Answer:
    return post(
        fake,
        COMPONENT_TOKEN,
        {
            "component_appid": component.appid,
            "component_appsecret": component.secret,
            "component_verify_ticket": fake.issue_ticket(component),
        },
    )


@pytest.fixture
def token(wechat_fake: FakeWeChat, component: Component) -> str:
    answer = component_token(wechat_fake, component)
    return str(answer["component_access_token"])


def query_auth(fake: FakeWeChat, token: str, code: str) -> Answer:
    return post(fake, QUERY_AUTH, {"component_appid": APPID, "authorization_code": code}, token)


def open_get(fake: FakeWeChat, access_token: str) -> Answer:
    response = requests.post(
        fake.url + OPEN_GET, params={"access_token": access_token}, json={}, timeout=5
    )
    answer: Answer = response.json()
    return answer


def authorizer_list(
    fake: FakeWeChat, token: str, offset: Any = 0, count: Any = 100, **body: Any
) -> Answer:
    body = {"component_appid": APPID, "offset": offset, "count": count, **body}
    return post(fake, AUTHORIZER_LIST, body, token)


# Pre-authorization codes -----------------------------------------------------------------


def test_a_pre_auth_code_is_issued_and_recorded_for_30_minutes(
    wechat_fake: FakeWeChat, component: Component, token: str
) -> None:
    before = wechat_fake.now()
    answer = post(wechat_fake, PRE_AUTH_CODE, {"component_appid": APPID}, token)
    assert set(answer) == {"pre_auth_code", "expires_in"}
    assert answer["expires_in"] == 1800
    assert answer["pre_auth_code"].startswith("preauthcode@@@")
    expires = component.pre_auth_codes[answer["pre_auth_code"]]
    assert before + 1800 <= expires <= wechat_fake.now() + 1800
    again = post(wechat_fake, PRE_AUTH_CODE, {"component_appid": APPID}, token)
    assert again["pre_auth_code"] != answer["pre_auth_code"]


def test_expired_pre_auth_codes_are_forgotten(
    wechat_fake: FakeWeChat, component: Component, token: str
) -> None:
    first = post(wechat_fake, PRE_AUTH_CODE, {"component_appid": APPID}, token)["pre_auth_code"]
    wechat_fake.advance(1000)
    second = post(wechat_fake, PRE_AUTH_CODE, {"component_appid": APPID}, token)["pre_auth_code"]
    wechat_fake.advance(900)  # the first is past its 30 minutes, the second is not
    third = post(wechat_fake, PRE_AUTH_CODE, {"component_appid": APPID}, token)["pre_auth_code"]
    assert set(component.pre_auth_codes) == {second, third}
    assert first not in component.pre_auth_codes


# Authorization codes ---------------------------------------------------------------------


def test_an_authorization_code_buys_tokens_that_work_like_api_authorizer_tokens(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str
) -> None:
    code = wechat_fake.authorization_code(component, shop)
    answer = query_auth(wechat_fake, token, code)

    info = answer["authorization_info"]
    assert list(answer) == ["authorization_info"]
    assert info["authorizer_appid"] == "wxshop"
    assert info["expires_in"] == TOKEN_LIFETIME
    assert info["authorizer_refresh_token"] == component.authorizations["wxshop"].refresh_token
    assert info["func_info"] == [
        {"funcscope_category": {"id": 1}},
        {"funcscope_category": {"id": 15}},
    ]
    assert open_get(wechat_fake, info["authorizer_access_token"])["open_appid"] == "wxopen-shop"
    refreshed = post(
        wechat_fake,
        AUTHORIZER_TOKEN,
        {
            "component_appid": APPID,
            "authorizer_appid": "wxshop",
            "authorizer_refresh_token": info["authorizer_refresh_token"],
        },
        token,
    )
    assert open_get(wechat_fake, refreshed["authorizer_access_token"])["errcode"] == 0

    wechat_fake.expire_authorizer_tokens(component, shop)  # it is one of shop's authorizer tokens
    assert_error(wechat_fake, open_get(wechat_fake, info["authorizer_access_token"]), 42001, shop)


def test_the_permission_sets_granted_are_the_func_info(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str
) -> None:
    code = wechat_fake.authorization_code(component, shop, func_info=(3, 17, 18))
    func_info = query_auth(wechat_fake, token, code)["authorization_info"]["func_info"]
    assert [entry["funcscope_category"]["id"] for entry in func_info] == [3, 17, 18]


def test_with_no_permission_set_wechat_leaves_the_tokens_out(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str
) -> None:
    code = wechat_fake.authorization_code(component, shop, func_info=())
    assert query_auth(wechat_fake, token, code) == {
        "authorization_info": {"authorizer_appid": "wxshop", "func_info": []}
    }
    # No refresh token was issued: the details show none, and none buys an authorizer token.
    body = {"component_appid": APPID, "authorizer_appid": "wxshop"}
    details = post(wechat_fake, AUTHORIZER_INFO, body, token)["authorization_info"]
    assert (details["authorizer_refresh_token"], details["func_info"]) == ("", [])
    body["authorizer_refresh_token"] = ""
    assert_error(
        wechat_fake, post(wechat_fake, AUTHORIZER_TOKEN, body, token), 61023, component.account
    )


def used_code(fake: FakeWeChat, component: Component, shop: Account, token: str) -> str:
    code = fake.authorization_code(component, shop)
    assert "authorization_info" in query_auth(fake, token, code)
    return code


def expired_code(fake: FakeWeChat, component: Component, shop: Account, token: str) -> str:
    code = fake.authorization_code(component, shop)
    fake.advance(3600)
    return code


def short_lived_code(fake: FakeWeChat, component: Component, shop: Account, token: str) -> str:
    code = fake.authorization_code(component, shop, expires_in=60)
    fake.advance(60)
    return code


def revoked_since(fake: FakeWeChat, component: Component, shop: Account, token: str) -> str:
    code = fake.authorization_code(component, shop)
    fake.revoke(component, shop)
    return code


def another_platforms_code(
    fake: FakeWeChat, component: Component, shop: Account, token: str
) -> str:
    return fake.authorization_code(fake.add_component(), shop)


CodeScenario = Callable[[FakeWeChat, Component, Account, str], str]


@pytest.mark.parametrize(
    ("scenario", "errcode"),
    [
        pytest.param(lambda *_: "queryauthcode@@@never-issued", 61009, id="61009 unknown"),
        pytest.param(used_code, 61009, id="61009 used once already"),
        pytest.param(revoked_since, 61009, id="61009 revoked since"),
        pytest.param(another_platforms_code, 61009, id="61009 another platform's"),
        pytest.param(expired_code, 61010, id="61010 after an hour"),
        pytest.param(short_lived_code, 61010, id="61010 after its expires_in"),
    ],
)
def test_a_code_is_good_once_within_its_hour(
    wechat_fake: FakeWeChat,
    component: Component,
    shop: Account,
    token: str,
    scenario: CodeScenario,
    errcode: int,
) -> None:
    code = scenario(wechat_fake, component, shop, token)
    answer = query_auth(wechat_fake, token, code)
    assert_error(wechat_fake, answer, errcode, component.account)
    assert_error(wechat_fake, query_auth(wechat_fake, token, code), errcode, component.account)


def test_a_code_still_works_in_the_last_second_of_its_hour(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str
) -> None:
    code = wechat_fake.authorization_code(component, shop)
    wechat_fake.advance(3599)
    assert (
        query_auth(wechat_fake, token, code)["authorization_info"]["authorizer_appid"] == "wxshop"
    )


def test_expired_codes_are_forgotten_when_the_next_is_issued(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    first = wechat_fake.authorization_code(component, shop, expires_in=10)
    wechat_fake.advance(10)
    second = wechat_fake.authorization_code(component, shop)
    third = wechat_fake.authorization_code(component, shop)
    assert set(component.codes) == {second, third}
    assert first not in component.codes


def test_expiring_the_tokens_of_a_revoked_authorization_changes_nothing(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str
) -> None:
    code = wechat_fake.authorization_code(component, shop)
    issued = query_auth(wechat_fake, token, code)["authorization_info"]["authorizer_access_token"]
    wechat_fake.revoke(component, shop)
    wechat_fake.expire_authorizer_tokens(component, shop)
    assert_error(wechat_fake, open_get(wechat_fake, issued), 40001, None)


def test_authorizing_again_after_a_revocation_renews_the_record_not_the_old_tokens(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str
) -> None:
    first = query_auth(wechat_fake, token, wechat_fake.authorization_code(component, shop))
    old = first["authorization_info"]
    record = component.authorizations["wxshop"]
    wechat_fake.revoke(component, shop)

    again = query_auth(wechat_fake, token, wechat_fake.authorization_code(component, shop))
    new = again["authorization_info"]

    assert component.authorizations["wxshop"] is record
    assert not record.revoked
    assert new["authorizer_refresh_token"] != old["authorizer_refresh_token"]
    assert record.tokens == [new["authorizer_access_token"]]
    assert_error(wechat_fake, open_get(wechat_fake, old["authorizer_access_token"]), 40001, None)
    assert open_get(wechat_fake, new["authorizer_access_token"])["errcode"] == 0


def test_an_update_keeps_the_live_authorizations_tokens_working(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str
) -> None:
    first = query_auth(wechat_fake, token, wechat_fake.authorization_code(component, shop))
    old_token = first["authorization_info"]["authorizer_access_token"]
    old_refresh = first["authorization_info"]["authorizer_refresh_token"]
    wechat_fake.authorization_code(component, shop, func_info=(1,))
    assert open_get(wechat_fake, old_token)["errcode"] == 0
    assert component.authorizations["wxshop"].refresh_token != old_refresh
    assert component.authorizations["wxshop"].tokens == [old_token]


# Authorizer details ----------------------------------------------------------------------


def authorizer_info(fake: FakeWeChat, token: str, appid: str) -> Answer:
    body = {"component_appid": APPID, "authorizer_appid": appid}
    return post(fake, AUTHORIZER_INFO, body, token)


def test_an_official_accounts_details_are_generated_and_stable(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str
) -> None:
    wechat_fake.authorize(component, shop)
    answer = authorizer_info(wechat_fake, token, "wxshop")

    info = answer["authorizer_info"]
    assert set(answer) == {"authorizer_info", "authorization_info"}
    assert {
        "nick_name",
        "head_img",
        "service_type_info",
        "verify_type_info",
        "user_name",
        "principal_name",
        "alias",
        "qrcode_url",
        "business_info",
    } <= set(info)
    assert "MiniProgramInfo" not in info
    assert info["service_type_info"] == {"id": 2}
    assert info["verify_type_info"] == {"id": 0}
    assert info["user_name"].startswith("gh_")
    assert info["business_info"]["open_pay"] == 0
    assert answer["authorization_info"] == {
        "authorizer_appid": "wxshop",
        "authorizer_refresh_token": component.authorizations["wxshop"].refresh_token,
        "func_info": [{"funcscope_category": {"id": 1}}, {"funcscope_category": {"id": 15}}],
    }
    assert authorizer_info(wechat_fake, token, "wxshop") == answer
    other = wechat_fake.add_account("wxother")
    wechat_fake.authorize(component, other)
    assert (
        authorizer_info(wechat_fake, token, "wxother")["authorizer_info"]["user_name"]
        != (info["user_name"])
    )


def test_a_mini_programs_details_and_a_seeded_profile(
    wechat_fake: FakeWeChat, component: Component, token: str
) -> None:
    app = wechat_fake.add_account(
        "wxapp",
        mini_program=True,
        profile={"nick_name": "My Shop", "verify_type_info": {"id": -1}, "alias": "myshop"},
    )
    wechat_fake.authorize(component, app)
    info = authorizer_info(wechat_fake, token, "wxapp")["authorizer_info"]
    assert (info["nick_name"], info["verify_type_info"], info["alias"]) == (
        "My Shop",
        {"id": -1},
        "myshop",
    )
    assert info["service_type_info"] == {"id": 0}
    mini = info["MiniProgramInfo"]
    assert set(mini) == {"network", "categories", "visit_status"}
    assert mini["visit_status"] == 0
    assert "RequestDomain" in mini["network"]


def test_the_details_carry_the_current_refresh_token(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    component = wechat_fake.add_component(APPID, secret=SECRET, rotate_refresh_tokens=True)
    token = str(component_token(wechat_fake, component)["component_access_token"])
    first = wechat_fake.authorize(component, shop)
    body = {
        "component_appid": APPID,
        "authorizer_appid": "wxshop",
        "authorizer_refresh_token": first,
    }
    rotated = post(wechat_fake, AUTHORIZER_TOKEN, body, token)["authorizer_refresh_token"]
    assert rotated != first
    answer = authorizer_info(wechat_fake, token, "wxshop")
    assert answer["authorization_info"]["authorizer_refresh_token"] == rotated
    listed = authorizer_list(wechat_fake, token)["list"]
    assert listed[0]["refresh_token"] == rotated


@pytest.mark.parametrize("revoked", [False, True], ids=["never authorized", "revoked"])
def test_the_details_of_an_account_not_authorizing_the_platform_get_61003(
    wechat_fake: FakeWeChat, component: Component, shop: Account, token: str, revoked: bool
) -> None:
    if revoked:
        wechat_fake.authorize(component, shop)
        wechat_fake.revoke(component, shop)
    answer = authorizer_info(wechat_fake, token, "wxshop")
    assert_error(wechat_fake, answer, 61003, component.account)


# The authorizer list ---------------------------------------------------------------------


def authorize_many(fake: FakeWeChat, component: Component, count: int) -> List[Account]:
    accounts = [fake.add_account(f"wx{index:03d}") for index in range(count)]
    for account in accounts:
        fake.authorize(component, account)
    return accounts


def test_the_list_pages_through_the_live_authorizations_in_a_stable_order(
    wechat_fake: FakeWeChat, component: Component, token: str
) -> None:
    before = int(wechat_fake.now())
    accounts = authorize_many(wechat_fake, component, 7)
    after = int(wechat_fake.now())
    wechat_fake.revoke(component, accounts[2])

    first = authorizer_list(wechat_fake, token, 0, 4)
    second = authorizer_list(wechat_fake, token, 4, 4)

    assert (first["errcode"], first["errmsg"], first["total_count"]) == (0, "ok", 6)
    assert second["total_count"] == 6
    listed = first["list"] + second["list"]
    assert [entry["authorizer_appid"] for entry in listed] == [
        "wx000",
        "wx001",
        "wx003",
        "wx004",
        "wx005",
        "wx006",
    ]
    for entry in listed:
        record = component.authorizations[entry["authorizer_appid"]]
        assert entry["refresh_token"] == record.refresh_token
        assert before <= entry["auth_time"] <= after
        assert set(entry) == {"authorizer_appid", "refresh_token", "auth_time"}
    assert authorizer_list(wechat_fake, token, 6, 4)["list"] == []
    assert authorizer_list(wechat_fake, token, 0, 500)["list"] == listed


def test_a_capped_platform_returns_short_pages_with_the_right_total(
    wechat_fake: FakeWeChat,
) -> None:
    component = wechat_fake.add_component(APPID, secret=SECRET, list_page_cap=3)
    token = str(component_token(wechat_fake, component)["component_access_token"])
    authorize_many(wechat_fake, component, 8)

    pages = []
    offset = 0
    while True:
        page = authorizer_list(wechat_fake, token, offset, 100)
        assert page["total_count"] == 8
        if not page["list"]:
            break
        pages.append(len(page["list"]))
        offset += len(page["list"])
    assert pages == [3, 3, 2]
    assert len(authorizer_list(wechat_fake, token, 0, 2)["list"]) == 2  # under the cap: as asked


@pytest.mark.parametrize(
    ("offset", "count"),
    [
        (0, 0),
        (0, 501),
        (0, -1),
        (0, "10"),
        (0, True),
        (0, 1.5),
        (-1, 10),
        ("0", 10),
        (None, 10),
    ],
)
def test_a_count_outside_1_to_500_or_a_bad_offset_gets_40097(
    wechat_fake: FakeWeChat, component: Component, token: str, offset: Any, count: Any
) -> None:
    answer = authorizer_list(wechat_fake, token, offset, count)
    assert_error(wechat_fake, answer, 40097, component.account)


def test_a_missing_count_gets_40097(
    wechat_fake: FakeWeChat, component: Component, token: str
) -> None:
    answer = post(wechat_fake, AUTHORIZER_LIST, {"component_appid": APPID, "offset": 0}, token)
    assert_error(wechat_fake, answer, 40097, component.account)


@pytest.mark.parametrize(
    ("path", "body", "errcode", "owned"),
    [
        (COMPONENT_TOKEN, {"component_appid": "wxunknown"}, 61011, False),
        (COMPONENT_TOKEN, b"[1]", 61011, False),
        (COMPONENT_TOKEN, {"component_appid": ["wxplatform"]}, 61011, False),
        (COMPONENT_TOKEN, {"component_appid": APPID, "component_appsecret": "wrong"}, 40125, True),
        (
            COMPONENT_TOKEN,
            {"component_appid": APPID, "component_appsecret": SECRET},
            61006,
            True,
        ),
        (START_PUSH_TICKET, {"component_appid": "wxunknown"}, 61011, False),
        (START_PUSH_TICKET, {"component_appid": APPID, "component_secret": "wrong"}, 40125, True),
    ],
)
def test_the_secret_endpoints_check_the_appid_secret_and_ticket(
    wechat_fake: FakeWeChat,
    component: Component,
    path: str,
    body: Any,
    errcode: int,
    owned: bool,
) -> None:
    answer = post(wechat_fake, path, body)
    assert_error(wechat_fake, answer, errcode, component.account if owned else None)


def test_a_ticket_older_than_12_hours_gets_61005(
    wechat_fake: FakeWeChat, component: Component
) -> None:
    ticket = wechat_fake.issue_ticket(component)
    wechat_fake.advance(12 * 3600)
    body = {
        "component_appid": APPID,
        "component_appsecret": SECRET,
        "component_verify_ticket": ticket,
    }
    assert_error(wechat_fake, post(wechat_fake, COMPONENT_TOKEN, body), 61005, component.account)


# What every component-token endpoint checks ------------------------------------------------

TOKEN_ENDPOINTS = [
    AUTHORIZER_TOKEN,
    PRE_AUTH_CODE,
    QUERY_AUTH,
    AUTHORIZER_INFO,
    AUTHORIZER_LIST,
    CLEAR_QUOTA,
]


@pytest.mark.parametrize("path", TOKEN_ENDPOINTS)
@pytest.mark.parametrize(
    ("case", "errcode"),
    [
        ("unknown token", 40001),
        ("an account's token", 40001),
        ("expired token", 42001),
        ("not a JSON object", 47001),
        ("another component_appid", 61011),
        ("no component_appid", 61011),
    ],
)
def test_every_component_token_endpoint_checks_the_token_body_and_appid(
    wechat_fake: FakeWeChat,
    component: Component,
    shop: Account,
    token: str,
    path: str,
    case: str,
    errcode: int,
) -> None:
    body: Any = {"component_appid": APPID, "offset": 0, "count": 10}
    owner: Optional[Account] = component.account
    if case == "unknown token":
        token, owner = "nobody's", None
    elif case == "an account's token":
        token, owner = shop.token, None
    elif case == "expired token":
        wechat_fake.advance(TOKEN_LIFETIME)
    elif case == "not a JSON object":
        body = b"[1, 2]"
    elif case == "another component_appid":
        body["component_appid"] = "wxsomeoneelse"
    else:
        del body["component_appid"]
    assert_error(wechat_fake, post(wechat_fake, path, body, token), errcode, owner)


def test_an_unknown_component_path_is_a_404_page(wechat_fake: FakeWeChat, token: str) -> None:
    response = requests.post(
        wechat_fake.url + "/cgi-bin/component/api_nothing",
        params={"component_access_token": token},
        json={},
        timeout=5,
    )
    assert response.status_code == 404


# Quotas and their resets -----------------------------------------------------------------


def reset_with_token(fake: FakeWeChat, component: Component, token: str) -> Answer:
    return post(fake, CLEAR_QUOTA, {"component_appid": component.appid}, token)


def reset_with_secret(fake: FakeWeChat, component: Component, token: str) -> Answer:
    body = {"component_appid": component.appid, "appsecret": component.secret}
    return post(fake, CLEAR_QUOTA_V2, body)


Reset = Callable[[FakeWeChat, Component, str], Answer]
RESETS = [
    pytest.param(reset_with_token, id="clear_quota"),
    pytest.param(reset_with_secret, id="clear_quota/v2"),
]


@pytest.mark.parametrize("reset", RESETS)
def test_the_component_token_fetch_counts_against_the_platforms_quota_until_a_reset(
    wechat_fake: FakeWeChat, component: Component, token: str, reset: Reset
) -> None:
    wechat_fake.set_quota(component.account, COMPONENT_TOKEN, daily_limit=1)
    assert "component_access_token" in component_token(wechat_fake, component)
    assert_error(wechat_fake, component_token(wechat_fake, component), 45009, component.account)

    assert reset(wechat_fake, component, token) == {"errcode": 0, "errmsg": "ok"}
    assert "component_access_token" in component_token(wechat_fake, component)


@pytest.mark.parametrize(
    "path", [PRE_AUTH_CODE, AUTHORIZER_LIST, AUTHORIZER_INFO, QUERY_AUTH, AUTHORIZER_TOKEN]
)
def test_the_component_endpoints_count_against_the_platforms_quota(
    wechat_fake: FakeWeChat, component: Component, token: str, path: str
) -> None:
    wechat_fake.set_quota(component.account, path, daily_limit=3, used=3)
    body = {"component_appid": APPID, "offset": 0, "count": 10}
    assert_error(wechat_fake, post(wechat_fake, path, body, token), 45009, component.account)
    assert reset_with_token(wechat_fake, component, token)["errcode"] == 0
    assert wechat_fake.state.quotas[(APPID, path)][1] == 0


def test_a_reset_is_never_refused_for_its_own_quota(
    wechat_fake: FakeWeChat, component: Component, token: str
) -> None:
    wechat_fake.set_quota(component.account, CLEAR_QUOTA, daily_limit=1, used=1)
    wechat_fake.set_quota(component.account, CLEAR_QUOTA_V2, daily_limit=1, used=1)
    assert reset_with_token(wechat_fake, component, token) == {"errcode": 0, "errmsg": "ok"}
    wechat_fake.set_quota(component.account, CLEAR_QUOTA, daily_limit=1, used=1)
    assert reset_with_secret(wechat_fake, component, token) == {"errcode": 0, "errmsg": "ok"}


def test_ten_resets_a_month_shared_by_both_then_48006(
    wechat_fake: FakeWeChat, component: Component, token: str
) -> None:
    for index in range(10):
        reset = reset_with_token if index % 2 else reset_with_secret
        assert reset(wechat_fake, component, token)["errcode"] == 0, index
    for reset in (reset_with_token, reset_with_secret):
        assert_error(wechat_fake, reset(wechat_fake, component, token), 48006, component.account)


def test_clear_quota_v2_resets_an_authorized_accounts_quota_instead(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    wechat_fake.authorize(component, shop)
    wechat_fake.set_quota(shop, OPEN_GET, daily_limit=1, used=1)
    wechat_fake.set_quota(component.account, COMPONENT_TOKEN, daily_limit=1, used=1)
    assert_error(wechat_fake, open_get(wechat_fake, shop.token), 45009, shop)

    body = {"component_appid": APPID, "appsecret": SECRET, "appid": "wxshop"}
    assert post(wechat_fake, CLEAR_QUOTA_V2, body) == {"errcode": 0, "errmsg": "ok"}

    assert open_get(wechat_fake, shop.token)["open_appid"] == "wxopen-shop"
    assert wechat_fake.state.quotas[(APPID, COMPONENT_TOKEN)][1] == 1  # the platform's: untouched
    assert wechat_fake.state.resets == {"wxshop": [wechat_fake.state.resets["wxshop"][0]]}


@pytest.mark.parametrize(
    ("body", "errcode", "owned"),
    [
        ({"appsecret": SECRET}, 41002, False),
        ({"component_appid": "", "appsecret": SECRET}, 41002, False),
        ({"component_appid": APPID}, 41004, False),
        ({"component_appid": APPID, "appsecret": ["x"]}, 41004, False),
        ({"component_appid": "wxunknown", "appsecret": SECRET}, 61011, False),
        ({"component_appid": APPID, "appsecret": "wrong"}, 40125, True),
        ({"component_appid": APPID, "appsecret": SECRET, "appid": "wxnever"}, 40013, True),
        ({"component_appid": APPID, "appsecret": SECRET, "appid": "wxgone"}, 40013, True),
        (b"not json", 41002, False),
    ],
)
def test_clear_quota_v2_errors(
    wechat_fake: FakeWeChat, component: Component, body: Any, errcode: int, owned: bool
) -> None:
    gone = wechat_fake.add_account("wxgone")
    wechat_fake.authorize(component, gone)
    wechat_fake.revoke(component, gone)
    answer = post(wechat_fake, CLEAR_QUOTA_V2, body)
    assert_error(wechat_fake, answer, errcode, component.account if owned else None)
    assert wechat_fake.state.resets.get(APPID, []) == []


# Seeding the platform --------------------------------------------------------------------


def test_each_platform_gets_its_own_push_keys_unless_given(wechat_fake: FakeWeChat) -> None:
    first, second = wechat_fake.add_component(), wechat_fake.add_component()
    for component in (first, second):
        key = component.encoding_aes_key
        assert len(key) == 43
        assert len(base64.b64decode(key + "=", validate=True)) == 32
        assert component.push_token
        assert component.push_token not in repr(component)
        assert key not in repr(component)
    assert first.encoding_aes_key != second.encoding_aes_key
    assert first.push_token != second.push_token

    key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    given = wechat_fake.add_component(push_token="my-token", encoding_aes_key=key)
    assert (given.push_token, given.encoding_aes_key) == ("my-token", key)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encoding_aes_key": "tooshort"}, "43 base64 characters"),
        ({"encoding_aes_key": "!" * 43}, "43 base64 characters"),
        ({"encoding_aes_key": "A" * 44}, "43 base64 characters"),
        ({"list_page_cap": 0}, "at least 1"),
    ],
)
def test_bad_platform_seeds_are_refused(
    wechat_fake: FakeWeChat, options: Dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wechat_fake.add_component(**options)
    assert wechat_fake.platforms.components == {}
    assert wechat_fake.state.accounts == []
