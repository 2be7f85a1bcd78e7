"""A code's class depends on the endpoint that answered it: each mapping checked over the fake's
real sockets, on the endpoint where the code means it and on one where it does not."""

from __future__ import annotations

import pickle
from typing import Callable, Dict, Optional, Tuple, Type

import pytest

import wechat_openapi as wo
from tests.conftest import TOKEN, MakeClient, call_context
from tests.platform_support import COMPONENT_TOKEN, Store, platform
from wechat_openapi.errors import (
    _ENDPOINT_ERRORS,
    ERRORS_BY_CODE,
    QUOTA_GET_PATH,
    RID_GET_PATH,
    STABLE_TOKEN_PATH,
)
from wechat_openapi.testing import Component, FakeWeChat, Fault

APPID = "wxshop"
SECRET = "SENTINELSECRET" + "fedcba9876543210"
RID = "617682e0-09059ac5-34a8e2ea"
OPEN_GET = "/cgi-bin/open/get"

Call = Callable[[], object]


@pytest.fixture
def calls(
    wechat_fake: FakeWeChat, component: Component, make_client: MakeClient
) -> Dict[str, Tuple[str, Call]]:
    """Each endpoint under test: the path the fault goes to, and a call that reaches it."""
    wechat_fake.add_account(APPID, token=TOKEN, secret=SECRET, open_appid="wxopen")
    client = make_client(base_url=wechat_fake.url, max_retries=0)
    tenant = platform(wechat_fake, Store())
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    stable = wo.StableTokenProvider(APPID, SECRET)
    return {
        "open/get": (OPEN_GET, client.get_open_account),
        "rid/get": (RID_GET_PATH, lambda: client.get_rid_info(RID)),
        "quota/get": (QUOTA_GET_PATH, lambda: client.get_api_quota("/cgi-bin/token")),
        "stable_token": (
            STABLE_TOKEN_PATH,
            lambda: stable.get_token(call_context(wechat_fake.url, max_retries=0)),
        ),
        "component token": (
            COMPONENT_TOKEN,
            lambda: tenant.authorization_url("https://platform.example/done"),
        ),
    }


# (endpoint, errcode, the class raised, classes it must also be, classes it must not be)
MAPPINGS = [
    # 40164 is common; from the token endpoint it is a StableTokenError as well.
    ("open/get", 40164, wo.IPNotWhitelistedError, (), (wo.StableTokenError,)),
    (
        "stable_token",
        40164,
        wo.StableTokenIPNotWhitelistedError,
        (wo.StableTokenError, wo.IPNotWhitelistedError),
        (),
    ),
    # 89501 joins the IPConfirmationError family, on every endpoint.
    ("open/get", 89501, wo.IPConfirmationPendingError, (wo.IPConfirmationError,), ()),
    # stable_token falls back to the common table, keeping StableTokenError.
    *(
        ("stable_token", code, None, (wo.StableTokenError, common), ())
        for code, common in [
            (89501, wo.IPConfirmationPendingError),
            (89503, wo.IPNeedsConfirmationError),
            (89506, wo.IPRefusedTwiceError),
            (89507, wo.IPRefusedError),
            (41002, wo.AppIdMissingError),
            (41004, wo.AppSecretMissingError),
            (48001, wo.APIUnauthorizedError),
        ]
    ),
    # ...but the access-token codes name a token the endpoint was never sent.
    ("stable_token", 40001, wo.StableTokenError, (), (wo.AccessTokenError,)),
    ("stable_token", 42001, wo.StableTokenError, (), (wo.AccessTokenError,)),
    ("stable_token", 41001, wo.StableTokenError, (), (wo.AccessTokenMissingError,)),
    # 61024: a component appid on the plain token endpoint.
    ("stable_token", 61024, wo.StableTokenComponentAppIdError, (wo.StableTokenError,), ()),
    ("open/get", 61024, wo.APIError, (), ()),
    # 61014 and 61015: the wrong kind of token, in 48001's family.
    ("open/get", 61014, wo.ComponentTokenRequiredError, (wo.APIUnauthorizedError,), ()),
    ("open/get", 61015, wo.ComponentTokenNotAllowedError, (wo.APIUnauthorizedError,), ()),
    # 76003 is a malformed cgi_path on quota/get, another account's rid on rid/get.
    ("quota/get", 76003, wo.QuotaPathMalformedError, (), (wo.RidPermissionDeniedError,)),
    ("rid/get", 76003, wo.RidPermissionDeniedError, (), ()),
    ("open/get", 76003, wo.APIError, (), ()),
    # The rid family is rid/get's alone.
    ("rid/get", 76001, wo.RidNotFoundError, (), ()),
    ("rid/get", 76002, wo.InvalidRidError, (), ()),
    ("rid/get", 76004, wo.RidExpiredError, (), ()),
    ("rid/get", 76022, wo.RidNotSupportedError, (), ()),
    ("quota/get", 76001, wo.APIError, (), ()),
    ("quota/get", 76022, wo.QuotaNotQueryableError, (), (wo.RidNotSupportedError,)),
    ("open/get", 76001, wo.APIError, (), ()),
    ("open/get", 76004, wo.APIError, (), ()),
    # 61005 is the component endpoints' alone.
    ("component token", 61005, wo.VerifyTicketExpiredError, (wo.ComponentError,), ()),
    ("open/get", 61005, wo.APIError, (), ()),
]


@pytest.mark.parametrize(("endpoint", "errcode", "error_class", "also", "never"), MAPPINGS)
def test_each_code_raises_its_class_on_its_endpoint_only(
    wechat_fake: FakeWeChat,
    calls: Dict[str, Tuple[str, Call]],
    endpoint: str,
    errcode: int,
    error_class: Optional[Type[wo.APIError]],
    also: Tuple[Type[wo.APIError], ...],
    never: Tuple[Type[wo.APIError], ...],
) -> None:
    path, call = calls[endpoint]
    wechat_fake.inject(Fault.api_error(errcode, "some text"), path=path)

    with pytest.raises(wo.APIError) as caught:
        call()

    error = caught.value
    if error_class is not None:
        assert type(error) is error_class
    for parent in also:
        assert isinstance(error, parent)
    for other in never:
        assert not isinstance(error, other)
    assert (error.errcode, error.path) == (errcode, path)
    assert error.rid in wechat_fake.rids
    assert (error.hint is not None) == (type(error) not in (wo.APIError, wo.StableTokenError))
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is type(error)
    assert str(restored) == str(error)


@pytest.mark.parametrize(
    ("endpoint", "advice"),
    [
        ("rid/get", "older than 7 days"),
        ("quota/get", "starting with '/'"),
    ],
)
def test_the_hints_say_what_wechats_pages_say(
    wechat_fake: FakeWeChat, calls: Dict[str, Tuple[str, Call]], endpoint: str, advice: str
) -> None:
    path, call = calls[endpoint]
    code = 76001 if endpoint == "rid/get" else 76003
    wechat_fake.inject(Fault.api_error(code, "text"), path=path)
    with pytest.raises(wo.APIError, match=advice):
        call()


def test_a_component_appid_on_the_token_endpoint_points_to_the_component_route(
    wechat_fake: FakeWeChat, calls: Dict[str, Tuple[str, Call]]
) -> None:
    path, call = calls["stable_token"]
    wechat_fake.inject(
        Fault.api_error(61024, "must use api(api_component_token) to get token for component acct"),
        path=path,
    )
    with pytest.raises(wo.StableTokenComponentAppIdError, match="ComponentPlatform"):
        call()


def test_every_table_entry_carries_its_own_code_and_a_hint() -> None:
    for path, (table, _) in [("", (ERRORS_BY_CODE, None)), *_ENDPOINT_ERRORS.items()]:
        for code, error_class in table.items():
            assert error_class.code == code, (path, code)
            assert error_class.hint, (path, code)


def test_the_token_endpoints_derived_classes_stay_out_of_the_public_names() -> None:
    table, _ = _ENDPOINT_ERRORS[STABLE_TOKEN_PATH]
    derived = {cls.__name__ for cls in table.values()} - set(wo.__all__)
    assert "StableTokenIPConfirmationPendingError" in derived
    for name in derived:
        assert getattr(wo.errors, name).__module__ == "wechat_openapi.errors"
