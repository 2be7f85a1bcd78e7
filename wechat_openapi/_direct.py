"""The direct route: a call's request written in one ``sendall`` on a connection from
requests' own pool, and its answer read by ``http.client``'s own parser.

urllib3's ``urlopen`` builds a request head from a dict on every call, and wraps the answer in
objects of its own; most of a call's CPU went there. Here the head is built once per
transport, and only the target (which holds the token) and ``Content-Length`` change per call.
What stays is urllib3's pool (its connections, their TLS, its rules for reuse) and
``http.client``'s parser. A connection goes back to the pool only after its answer was read
whole and proved usable, and never after ``Connection: close``, HTTP/1.0 without keep-alive,
or an error: then it is closed.

The route is taken only when the pool offers what it needs (``_get_conn`` and ``_put_conn``,
in urllib3 1.26 and 2.x, and our own connection class); otherwise the transport uses
``urlopen``.
"""

from __future__ import annotations

import http.client
import socket
from typing import Any, Mapping, Optional, Tuple, cast
from urllib.parse import urlsplit

from ._connection import ConnectionFile, DirectResponse, SocketReads, our_connection_class
from ._reader import declared_length

# What either way of sending gives back: status, reason, headers, and the answer to read.
Head = Tuple[int, Optional[str], Mapping[str, str], Any]


def route_for(pool: Any, base_url: str, headers: Mapping[str, str]) -> Optional[DirectRoute]:
    """The direct route on ``pool``, or None where it cannot be taken."""
    if not (
        callable(getattr(pool, "_get_conn", None))
        and callable(getattr(pool, "_put_conn", None))
        and our_connection_class(getattr(pool, "ConnectionCls", None))
        and getattr(pool, "proxy", None) is None
    ):
        return None
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]  # credentials were refused with the base URL
    lines = [f"Host: {host}", *(f"{name}: {value}" for name, value in headers.items())]
    try:
        prefix = parts.path.encode("ascii")
        host.encode("ascii")
        tail = (" HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
    except UnicodeEncodeError:  # a header or path http.client would encode its own way
        return None
    if any(byte <= 0x20 or byte >= 0x7F for byte in prefix):
        return None
    return DirectRoute(pool, tail)


class DirectRoute:
    """Sends on one pool's connections with a head built once."""

    __slots__ = ("_pool", "_tail")

    def __init__(self, pool: Any, tail: bytes) -> None:
        self._pool = pool
        self._tail = tail  # from " HTTP/1.1" to "Content-Length: "

    def send(
        self, target: str, payload: bytes, expires_at: float, connect: float, read: float
    ) -> Head:
        """Write the request and read the answer's head; the connection stays out of the
        pool until :meth:`DirectAnswer.release_conn`, and is closed on any failure here."""
        pool = self._pool
        connection = pool._get_conn()
        answer: Optional[DirectResponse] = None
        try:
            sock: Optional[socket.socket] = connection.sock
            if sock is None:
                connection.timeout = connect
                connection.connect()
                sock = connection.sock
            file = connection.answer_file
            if file is None or file.raw.socket is not sock:
                file = connection.answer_file = ConnectionFile(SocketReads(sock))
            reads = file.raw
            reads.expires_at = expires_at
            reads.read_timeout = read
            sock.settimeout(read)  # read is already cut to what is left of the deadline
            sock.sendall(
                b"".join(
                    (
                        b"POST ",
                        target.encode("ascii"),
                        self._tail,
                        b"%d\r\n\r\n" % len(payload),
                        payload,
                    )
                )
            )
            answer = DirectResponse(file)
            answer.begin()
            _check_length(answer)
        except BaseException:
            if answer is not None:
                answer.close()
            connection.close()
            pool._put_conn(None)
            raise
        headers = cast(Mapping[str, str], answer.msg)  # an email Message: get() as a mapping's
        return answer.status, answer.reason, headers, DirectAnswer(answer, connection, pool)


def _check_length(answer: DirectResponse) -> None:
    """Refuse Content-Lengths that differ, as urllib3 does: which one frames the body, and
    where the next answer starts, cannot be told. Copies of one length are one length."""
    declared = answer.msg.get_all("Content-Length")
    if not declared or answer.chunked:  # a chunked body's framing is its own
        return
    lengths = {value.strip() for line in declared for value in line.split(",")}
    if len(lengths) > 1:
        raise http.client.HTTPException(f"Content-Lengths that differ: {', '.join(declared)}")
    length = declared_length(lengths.pop())
    if length is not None and answer.length is None:
        answer.length = length


class DirectAnswer:
    """A direct answer as the reader sees it: the parts of urllib3's response it uses."""

    __slots__ = ("_connection", "_fp", "_pool", "_usable")

    def __init__(self, answer: DirectResponse, connection: Any, pool: Any) -> None:
        self._fp = answer
        self._connection = connection
        self._pool = pool
        self._usable = True

    def read(self, amount: int) -> bytes:
        return self._fp.read(amount)

    def close(self) -> None:
        """Close the connection: what is left of the answer will never be read."""
        self._usable = False
        self._fp.close()
        if self._connection is not None:
            self._connection.close()

    def release_conn(self) -> None:
        """Hand the connection back to the pool (once), or close it if it cannot be used
        again; either way the pool gets its slot back."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if not self._usable or self._fp.will_close:
            connection.close()
            connection = None
        self._pool._put_conn(connection)
