"""The direct route: a head built once, written with the body in one ``sendall`` on a
connection from requests' own pool. It sends what urllib3 would, gives the pool back its
slot whatever happens, and steps aside for ``urlopen`` where the pool lacks what it needs.
(Every other promise, on every way of sending, is in the framing, wire and hostile tests.)"""

from __future__ import annotations

import contextlib
import gc
import sys
import types
from typing import Any, Dict, List

import pytest

import wechat_openapi as wo
from tests.conftest import TOKEN
from tests.raw_support import RawServer, Request, answering, body, with_length
from wechat_openapi import _direct, _transport


def headers_of(request: Request) -> Dict[str, str]:
    lines = request.head.decode("latin-1").split("\r\n")[1:]
    return dict(line.split(": ", 1) for line in lines if line)


@pytest.fixture
def server() -> Any:
    served = RawServer(answering(lambda request: with_length(body("wxopen"))))
    yield served
    served.close()


def test_the_direct_route_sends_what_urlopen_sends(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for direct in (True, False):
        monkeypatch.setattr(_transport, "DIRECT", direct)
        with wo.Client(access_token=TOKEN, base_url=server.url, user_agent="shop/1.0") as client:
            assert client.get_open_account("wxself").open_appid == "wxopen"
    by_direct, by_urlopen = server.requests
    assert by_direct.head.split(b"\r\n")[0] == by_urlopen.head.split(b"\r\n")[0]
    assert by_direct.head.startswith(b"POST /cgi-bin/open/get?access_token=")
    assert by_direct.payload == by_urlopen.payload == b'{"appid": "wxself"}'
    sent, expected = headers_of(by_direct), headers_of(by_urlopen)
    assert {name.lower(): value for name, value in sent.items()} == {
        name.lower(): value for name, value in expected.items()
    }
    assert sent["Content-Length"] == str(len(by_direct.payload))
    assert sent["User-Agent"] == "shop/1.0"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="closed without an answer"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", id="cut short"),
        pytest.param(with_length(b"<html>"), id="not JSON"),
        pytest.param(with_length(body("wx"), b"502 Bad Gateway"), id="502"),
        pytest.param(with_length(body("wx"), version=b"HTTP/1.0"), id="HTTP/1.0"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}", id="two lengths"),
    ],
)
def test_every_answer_gives_the_pool_its_slot_back(
    answer: Any, raw_servers: List[RawServer]
) -> None:
    """urllib3's pool holds a slot per connection it may keep; one taken and never given back
    would shrink the pool for good."""
    server = RawServer(answering(lambda request: answer, keep=False))
    raw_servers.append(server)
    with wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0) as client:
        for _ in range(5):
            with contextlib.suppress(wo.WeChatError):
                client.get_open_account()
        pool = client._transport._pool
        assert client._transport._direct is not None
        assert pool.pool.qsize() == pool.pool.maxsize
    assert server.connections == 5  # none of these connections was used again


def test_a_good_answer_keeps_its_connection(server: RawServer) -> None:
    with wo.Client(access_token=TOKEN, base_url=server.url) as client:
        for _ in range(20):
            client.get_open_account()
        pool = client._transport._pool
        assert pool.pool.qsize() == pool.pool.maxsize
    assert server.connections == 1


@pytest.mark.parametrize(
    ("pool", "base_url"),
    [
        pytest.param(types.SimpleNamespace(), "http://127.0.0.1:9", id="no _get_conn/_put_conn"),
        pytest.param("stock", "http://127.0.0.1:9", id="urllib3's own connections"),
        pytest.param("ours", "http://127.0.0.1:9/relay\x7f", id="a path http.client quotes"),
        pytest.param("ours", "http://bücher.example", id="a host to encode"),
    ],
)
def test_the_route_is_not_taken_where_the_pool_or_the_url_does_not_allow_it(
    pool: Any, base_url: str
) -> None:
    import urllib3

    from wechat_openapi._connection import _POOLS

    if pool == "stock":
        pool = urllib3.HTTPConnectionPool("127.0.0.1", 9)
    elif pool == "ours":
        pool = _POOLS["http"]("127.0.0.1", 9)
    assert _direct.route_for(pool, base_url, {"Accept": "application/json"}) is None
    ours = _POOLS["http"]("127.0.0.1", 9)
    assert _direct.route_for(ours, "http://127.0.0.1:9", {"Accept": "application/json"})


def test_without_the_route_a_call_goes_through_urlopen(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transport, "route_for", lambda *args: None)
    through: List[str] = []
    urlopen = _transport.Transport._urlopen

    def spy(self: Any, *args: Any) -> Any:
        through.append("urlopen")
        return urlopen(self, *args)

    monkeypatch.setattr(_transport.Transport, "_urlopen", spy)
    with wo.Client(access_token=TOKEN, base_url=server.url) as client:
        assert client.get_open_account().open_appid == "wxopen"
        assert client._transport._direct is None
    assert through == ["urlopen"]


def test_an_answer_dropped_by_a_failed_send_leaves_nothing_for_the_collector(
    monkeypatch: pytest.MonkeyPatch, raw_servers: List[RawServer]
) -> None:
    """A send that fails once the answer began (the server hangs up) closes that answer: left
    to the garbage collector, its close flushed a file whose raw reads it had finalized
    first, an unraisable error that failed whichever test came next."""
    raised: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", raised.append)
    server = RawServer(answering(lambda request: None, keep=False))
    raw_servers.append(server)
    with wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0) as client:
        for _ in range(20):
            with pytest.raises(wo.TransportError):
                client.get_open_account()
    del client
    gc.collect()
    assert [str(hook.exc_value) for hook in raised] == []
