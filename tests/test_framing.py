"""Every framing the wire allows, on every way of sending: Content-Length, chunked,
close-delimited, and HTTP/1.0 with and without keep-alive, on the fast path (urllib3 on our
own pool), on ``HTTPAdapter.send`` (our adapter: proxies, patched senders) and on a
``requests.Session`` of the user's (its own adapter and connections).

An HTTP/1.0 answer once failed with EBADF: the deadline-bound file did not hold the reference
on the socket that ``socket.makefile`` holds, so ``http.client`` closing the connection after
an answer that ends with it closed the fd under the body's reader.
"""

from __future__ import annotations

from typing import Any, Callable, List

import pytest

import wechat_openapi as wo
from tests.conftest import TOKEN
from tests.raw_support import RawServer, answering, body, chunked, with_length

CALLS = 3  # in a row on one client: the second and third show whether connections are reused


def close_delimited(version: bytes, connection: bytes = b"") -> Callable[[bytes], bytes]:
    def frame(payload: bytes) -> bytes:
        head = b"%s 200 OK\r\nContent-Type: application/json\r\n%s\r\n" % (version, connection)
        return head + payload

    return frame


def length_framed(version: bytes, connection: bytes = b"") -> Callable[[bytes], bytes]:
    def frame(payload: bytes) -> bytes:
        head = b"%s 200 OK\r\n%sContent-Length: %d\r\n\r\n" % (version, connection, len(payload))
        return head + payload

    return frame


# (framing, whether the server keeps the connection open after the answer)
FRAMINGS = [
    pytest.param(with_length, True, id="Content-Length"),
    pytest.param(chunked, True, id="chunked"),
    pytest.param(close_delimited(b"HTTP/1.1", b"Connection: close\r\n"), False, id="close"),
    pytest.param(close_delimited(b"HTTP/1.1"), False, id="close, no Connection header"),
    pytest.param(close_delimited(b"HTTP/1.0"), False, id="HTTP/1.0 close-delimited"),
    pytest.param(length_framed(b"HTTP/1.0"), False, id="HTTP/1.0 Content-Length"),
    pytest.param(
        length_framed(b"HTTP/1.0", b"Connection: keep-alive\r\n"), True, id="HTTP/1.0 keep-alive"
    ),
]


@pytest.mark.parametrize(("frame", "keeps"), FRAMINGS)
def test_every_framing_is_read_on_every_way_of_sending(
    raw_servers: List[RawServer], way: Any, frame: Callable[[bytes], bytes], keeps: bool
) -> None:
    server = RawServer(answering(lambda request: frame(body(f"wx{request.index}")), keep=keeps))
    raw_servers.append(server)
    with wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0, **way) as client:
        answers = [client.get_open_account().open_appid for _ in range(CALLS)]
    # Each answer is its own call's (the n-th request on its connection), and a connection
    # the server keeps open is used again.
    assert answers == (["wx0", "wx1", "wx2"] if keeps else ["wx0"] * CALLS)
    assert server.connections == (1 if keeps else CALLS)
