"""Each documented errcode raises its own class, with the hint, rid and path attached."""

from __future__ import annotations

import pickle
import time

import pytest
import responses

import wechat_openapi as wo
from tests.conftest import MakeClient, answer
from wechat_openapi.errors import _ENDPOINT_ERRORS, ERRORS_BY_CODE, api_error

RID = "617682e0-09059ac5-34a8e2ea"

DOCUMENTED = [
    (-1, wo.SystemBusyError, wo.APIError),
    (40001, wo.InvalidCredentialError, wo.AccessTokenError),
    (40014, wo.InvalidAccessTokenError, wo.AccessTokenError),
    (42001, wo.AccessTokenExpiredError, wo.AccessTokenError),
    (40013, wo.InvalidAppIdError, wo.APIError),
    (45009, wo.QuotaExceededError, wo.APIError),
    (89002, wo.OpenAccountNotBoundError, wo.APIError),
    (91011, wo.NicknameAuditNotFoundError, wo.APIError),
    (41001, wo.AccessTokenMissingError, wo.APIError),
    (41002, wo.AppIdMissingError, wo.APIError),
    (41004, wo.AppSecretMissingError, wo.APIError),
    (48006, wo.ClearQuotaLimitError, wo.APIError),
    (45011, wo.MinuteQuotaExceededError, wo.APIError),
    (48001, wo.APIUnauthorizedError, wo.APIError),
    (61014, wo.ComponentTokenRequiredError, wo.APIUnauthorizedError),
    (61015, wo.ComponentTokenNotAllowedError, wo.APIUnauthorizedError),
    (40164, wo.IPNotWhitelistedError, wo.APIError),
    (89501, wo.IPConfirmationPendingError, wo.IPConfirmationError),
    (89503, wo.IPNeedsConfirmationError, wo.IPConfirmationError),
    (89506, wo.IPRefusedTwiceError, wo.IPConfirmationError),
    (89507, wo.IPRefusedError, wo.IPConfirmationError),
    (61003, wo.ComponentNotAuthorizedError, wo.ComponentError),
    (61004, wo.ComponentIPNotWhitelistedError, wo.ComponentError),
    (61006, wo.VerifyTicketInvalidError, wo.ComponentError),
    (61007, wo.ComponentAPIUnauthorizedError, wo.ComponentError),
    (61011, wo.InvalidComponentError, wo.ComponentError),
    (61023, wo.RefreshTokenInvalidError, wo.ComponentError),
]


@pytest.mark.parametrize(("errcode", "error_class", "parent"), DOCUMENTED)
def test_each_documented_code_raises_its_class_with_fields(
    mocked: responses.RequestsMock,
    make_client: MakeClient,
    errcode: int,
    error_class: type[wo.APIError],
    parent: type[wo.APIError],
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"errcode": errcode, "errmsg": f"some text rid: {RID}"})
    client = make_client(max_retries=0)

    with pytest.raises(error_class) as caught:
        client.get_open_account()

    error = caught.value
    assert type(error) is error_class
    assert isinstance(error, parent)
    assert isinstance(error, wo.WeChatError)
    assert error.errcode == errcode
    assert error.errmsg == f"some text rid: {RID}"
    assert error.rid == RID
    assert error.path == "/cgi-bin/open/get"
    assert error.hint
    assert str(error) == f"{errcode} some text ({error.hint}) [rid: {RID}]"
    assert len(mocked.calls) == 1


def test_the_table_covers_every_documented_code_once() -> None:
    assert sorted(ERRORS_BY_CODE) == sorted(code for code, _, _ in DOCUMENTED)


def test_an_unknown_code_raises_plain_api_error(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"errcode": 48999, "errmsg": "something new"})

    with pytest.raises(wo.APIError) as caught:
        make_client().get_open_account()

    assert type(caught.value) is wo.APIError
    assert caught.value.errcode == 48999
    assert caught.value.rid is None
    assert caught.value.hint is None
    assert str(caught.value) == "48999 something new"


@pytest.mark.parametrize(
    ("path", "errcode", "error_class"),
    [
        ("/cgi-bin/component/api_component_token", 40125, wo.InvalidComponentSecretError),
        ("/cgi-bin/component/api_component_token", 61005, wo.VerifyTicketExpiredError),
        ("/cgi-bin/component/api_component_token", -1, wo.SystemBusyError),
        ("/cgi-bin/component/api_component_token", 12345, wo.ComponentError),
        ("/cgi-bin/component/api_authorizer_token", 61023, wo.RefreshTokenInvalidError),
        ("/cgi-bin/component/api_authorizer_token", 40001, wo.InvalidCredentialError),
        ("/cgi-bin/component/api_start_push_ticket", 61011, wo.InvalidComponentError),
        ("/cgi-bin/component/api_query_auth", 61009, wo.AuthorizationCodeInvalidError),
        ("/cgi-bin/component/api_query_auth", 61010, wo.AuthorizationCodeExpiredError),
        ("/cgi-bin/component/api_component_token", 45009, wo.ComponentQuotaExceededError),
        ("/cgi-bin/component/api_get_authorizer_info", 61003, wo.ComponentNotAuthorizedError),
        ("/cgi-bin/open/get", 61009, wo.APIError),
        ("/cgi-bin/open/get", 40125, wo.APIError),
    ],
)
def test_component_endpoints_have_their_own_table(
    path: str, errcode: int, error_class: type[wo.APIError]
) -> None:
    assert type(api_error(errcode, "text", path)) is error_class


def test_str_reads_code_message_and_hint() -> None:
    error = api_error(76004, "rid time is error", "/cgi-bin/openapi/rid/get")
    assert (
        str(error) == "76004 rid time is error (rid expired: only the last 7 days can be queried)"
    )


def test_errcode_sent_as_a_string_is_understood(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"errcode": "89002", "errmsg": "open not exists"})
    with pytest.raises(wo.OpenAccountNotBoundError):
        make_client().get_open_account()


def test_missing_errmsg_still_gives_a_readable_error(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    answer(mocked, "/cgi-bin/open/get", {"errcode": 89002})
    with pytest.raises(wo.OpenAccountNotBoundError, match=r"^89002 \(no errmsg\)"):
        make_client().get_open_account()


@pytest.mark.parametrize(
    ("text", "rid"),
    [
        (f"invalid credential rid: {RID}", RID),
        (f"2026-11-21 ERROR call failed: 40001 invalid (rid: {RID}) retrying", RID),
        (f"first rid: 1111aaaa-2222bbbb-3333cccc then rid: {RID}", RID),
        ("rid: notarid", None),
        ("no rid here", None),
        ("", None),
    ],
)
def test_find_rid(text: str, rid: str) -> None:
    assert wo.find_rid(text) == rid


# Every class of every endpoint's table, once (the token endpoint's derived classes included).
ENDPOINT_CLASSES = {
    error_class: (path, code)
    for path, (table, _) in sorted(_ENDPOINT_ERRORS.items())
    for code, error_class in table.items()
}

ALL_ERRORS = [
    wo.WeChatError("plain", "/p"),
    wo.TransportError("down", "/p", retryable=False),
    wo.RequestTimeoutError("slow", "/p"),
    wo.InvalidResponseError("html", "/p", status_code=502),
    wo.APIError(48001, "api unauthorized rid: 1a-2b-3c", "/p"),
    *(api_error(code, f"text rid: {RID}", "/p") for code, _, _ in DOCUMENTED),
    *(api_error(code, f"text rid: {RID}", path) for path, code in ENDPOINT_CLASSES.values()),
]


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda error: type(error).__name__)
def test_errors_pickle_with_their_fields(error: wo.WeChatError) -> None:
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is type(error)
    assert vars(restored) == vars(error)
    assert str(restored) == str(error)
    assert restored.args == error.args


@pytest.mark.parametrize(
    ("errmsg", "summary"),
    [
        ("open not exists rid: 617682e0-09059ac5-34a8e2ea", "open not exists"),
        ("busy  rid: 617682e0-09059ac5-34a8e2ea \n", "busy"),
        ("rid: 617682e0-09059ac5-34a8e2ea", ""),
        ("xrid: 617682e0-09059ac5", "xrid: 617682e0-09059ac5"),
        ("rid: 617682e0 and more", "rid: 617682e0 and more"),
        ("no rid here", "no rid here"),
    ],
)
def test_without_rid_cuts_only_a_trailing_rid(errmsg: str, summary: str) -> None:
    from wechat_openapi.errors import without_rid

    assert without_rid(errmsg) == summary


@pytest.mark.parametrize("tail", ["", f"rid: {RID}", "rid:"])
def test_rid_parsing_is_linear_on_a_4_mib_whitespace_errmsg(tail: str) -> None:
    """A pattern that backtracks over whitespace took minutes here, freezing the process. The
    bound is on this process's CPU time (about 0.08 s), not the wall clock a busy machine
    stretches."""
    started = time.process_time()
    error = api_error(-1, " " * (4 * 1024 * 1024) + tail)
    assert time.process_time() - started < 1.0
    assert error.rid == (RID if tail.endswith(RID) else None)
