"""The token rules: a static token fails at once; a provider gets one retry with a new token."""

from __future__ import annotations

from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

import wechat_openapi as wo
from tests.conftest import MOCK_BASE, MakeClient, call_context

PATH = "/cgi-bin/open/get"
OK = {"errcode": 0, "errmsg": "ok", "open_appid": "wxopen"}


def tokens_sent(mock: responses.RequestsMock) -> list[str]:
    return [
        parse_qs(urlsplit(call.request.url or "").query)["access_token"][0] for call in mock.calls
    ]


def provider(*tokens: str) -> Any:
    """A token_provider returning ``tokens`` in turn, then the last one for ever."""
    handed: Iterator[str] = iter(tokens)
    last = [tokens[-1]]

    def next_token() -> str:
        last[0] = next(handed, last[0])
        return last[0]

    return next_token


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_static_token_error_is_raised_at_once(
    mocked: responses.RequestsMock, make_client: MakeClient, errcode: int
) -> None:
    mocked.add(responses.POST, MOCK_BASE + PATH, json={"errcode": errcode, "errmsg": "bad token"})
    mocked.add(responses.POST, MOCK_BASE + PATH, json=OK)

    with pytest.raises(wo.AccessTokenError) as caught:
        make_client(access_token="static").get_open_account()

    assert caught.value.errcode == errcode
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_provider_with_a_fresh_token_gets_one_retry(
    mocked: responses.RequestsMock, make_client: MakeClient, errcode: int
) -> None:
    mocked.add(responses.POST, MOCK_BASE + PATH, json={"errcode": errcode, "errmsg": "stale"})
    mocked.add(responses.POST, MOCK_BASE + PATH, json=OK)

    client = make_client(token_provider=provider("stale", "fresh"))

    assert client.get_open_account().open_appid == "wxopen"
    assert tokens_sent(mocked) == ["stale", "fresh"]


def test_a_provider_that_keeps_giving_bad_tokens_gets_exactly_one_retry(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    for _ in range(5):
        mocked.add(responses.POST, MOCK_BASE + PATH, json={"errcode": 40001, "errmsg": "bad"})

    client = make_client(token_provider=provider("bad1", "bad2", "bad3", "bad4"))

    with pytest.raises(wo.InvalidCredentialError):
        client.get_open_account()
    assert tokens_sent(mocked) == ["bad1", "bad2"]


def test_a_provider_returning_the_same_token_is_not_retried(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    mocked.add(responses.POST, MOCK_BASE + PATH, json={"errcode": 42001, "errmsg": "expired"})
    mocked.add(responses.POST, MOCK_BASE + PATH, json=OK)

    with pytest.raises(wo.AccessTokenExpiredError):
        make_client(token_provider=lambda: "same").get_open_account()
    assert len(mocked.calls) == 1


def test_other_errors_do_not_ask_the_provider_again(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    asked: list[int] = []

    def counting() -> str:
        asked.append(1)
        return "token"

    mocked.add(responses.POST, MOCK_BASE + PATH, json={"errcode": 89002, "errmsg": "unbound"})
    with pytest.raises(wo.OpenAccountNotBoundError):
        make_client(token_provider=counting).get_open_account()
    assert len(asked) == 1


def test_the_provider_is_asked_on_every_call(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    mocked.add(responses.POST, MOCK_BASE + PATH, json=OK)
    mocked.add(responses.POST, MOCK_BASE + PATH, json=OK)
    client = make_client(token_provider=provider("one", "two"))
    client.get_open_account()
    client.get_open_account()
    assert tokens_sent(mocked) == ["one", "two"]


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (None, "returned None"),
        ("", "returned an empty str"),
        ("   ", "returned a blank str"),
        (42, "returned a int, not a str"),
        (b"bytes", "returned a bytes, not a str"),
    ],
)
def test_a_provider_returning_a_non_token_raises_token_unavailable_and_sends_nothing(
    mocked: responses.RequestsMock, make_client: MakeClient, bad: object, said: str
) -> None:
    def read_cache() -> Any:
        return bad

    client = make_client(token_provider=read_cache)
    with pytest.raises(wo.TokenUnavailableError) as caught:
        client.get_open_account()
    assert str(caught.value) == (
        f"no access token: the token_provider {read_cache.__qualname__} {said}; nothing was sent"
    )
    assert isinstance(caught.value, wo.WeChatError)
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("bad", [None, ""])
def test_a_provider_object_returning_a_non_token_raises_token_unavailable(
    mocked: responses.RequestsMock, make_client: MakeClient, bad: object
) -> None:
    class Empty:
        def get_token(self, call: wo.CallContext) -> Any:
            return bad

        def refresh(self, failed_token: str, call: wo.CallContext) -> Any:
            return bad

        def __repr__(self) -> str:
            return "<Empty>"

    with pytest.raises(wo.TokenUnavailableError, match="the token provider <Empty> returned"):
        make_client(token_provider=Empty()).get_open_account()
    assert len(mocked.calls) == 0


def test_a_refresh_returning_a_non_token_raises_token_unavailable(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    mocked.add(responses.POST, MOCK_BASE + PATH, json={"errcode": 42001, "errmsg": "expired"})
    answers = iter(["stale", None])
    with pytest.raises(wo.TokenUnavailableError, match="returned None"):
        make_client(token_provider=lambda: next(answers)).get_open_account()
    assert len(mocked.calls) == 1


def test_provider_errors_propagate_unchanged(make_client: MakeClient) -> None:
    def broken() -> str:
        raise LookupError("vault unreachable")

    with pytest.raises(LookupError, match="vault unreachable"):
        make_client(token_provider=broken).get_open_account()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({}, TypeError, "exactly one of access_token"),
        ({"access_token": "a", "token_provider": lambda: "b"}, TypeError, "exactly one of"),
        ({"access_token": ""}, ValueError, "access_token must not be empty or blank"),
        ({"access_token": 123}, TypeError, "access_token must be a str, got int"),
        ({"token_provider": "not callable"}, TypeError, "token_provider must be a TokenProvider"),
    ],
)
def test_token_options_are_checked_when_the_client_is_built(
    options: Any, error: Any, message: str
) -> None:
    with pytest.raises(error, match=message):
        wo.Client(base_url=MOCK_BASE, **options)


def test_a_forked_child_gets_a_fresh_refresh_lock() -> None:
    from wechat_openapi.tokens import CallableToken

    source = CallableToken(lambda: "token")
    source._lock.acquire()  # as if another thread of the parent held it at fork
    source.after_fork_in_child()
    assert source._lock.acquire(blocking=False)


def test_a_late_first_call_cannot_undo_a_refresh() -> None:
    """Thread B's first provider call returns the stale token after thread A has refreshed;
    B's refresh must take A's replacement, not ask the provider again."""
    from wechat_openapi.tokens import CallableToken

    answers = iter(["fresh", "stale"])  # A's refresh, then B's late first call
    calls: list[str] = []

    def provider() -> str:
        calls.append(next(answers))
        return calls[-1]

    source = CallableToken(provider)
    call = call_context()
    assert source.refresh("stale", call) == "fresh"  # thread A
    assert source.get_token(call) == "stale"  # thread B's first call, returning late
    assert source.refresh("stale", call) == "fresh"  # thread B
    assert calls == ["fresh", "stale"]


def test_a_different_failed_token_is_refreshed_anew() -> None:
    from wechat_openapi.tokens import CallableToken

    answers = iter(["second", "third"])
    source = CallableToken(lambda: next(answers))
    assert source.refresh("first", call_context()) == "second"
    assert source.refresh("second", call_context()) == "third"
