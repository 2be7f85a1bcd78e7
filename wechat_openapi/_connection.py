"""Connections whose every read respects the call's deadline, and which skip 1xx answers.

A socket timeout bounds one read, not an answer: a server that sends its status line, its
headers or a chunk-size line a byte at a time, each within the read timeout, could hold a call
for days, because ``http.client`` reads those itself. So the connections of the client's own
pool read through a socket file that, before every read, shortens the socket's timeout to what
is left of the call's deadline, and refuses to read once it has passed.

The deadline travels from the transport to the response in a thread-local: ``http.client``
builds the response in the thread that sends the request. Informational answers (``103 Early
Hints``) are skipped, as the HTTP spec says; ``100 Continue`` is ``http.client``'s own to skip.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from typing import Any, Optional, Tuple

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.wait import wait_for_read

# .expires_at: the running call's deadline, a time.monotonic() value; .answer: the answer its
# send began to read (see close_dropped_answer).
_call = threading.local()


def set_deadline(expires_at: Optional[float]) -> None:
    """The deadline for the answers this thread reads next (None: no deadline)."""
    _call.expires_at = expires_at
    _call.answer = None


def close_dropped_answer() -> None:
    """Close the answer this thread's failed send began to read. urllib3 drops an answer
    whose head it refuses (two Content-Lengths that differ) without closing it, and its file
    holds a reference on the socket: the fd would stay open until the garbage collector
    found it."""
    answer = getattr(_call, "answer", None)
    _call.answer = None
    if answer is not None:
        answer.close()


class _DeadlineReads(io.RawIOBase):
    """A socket's raw reads, each bounded by what is left of ``expires_at``, a
    ``time.monotonic()`` value, and by ``read_timeout``. ``polling``: read only what is
    already there, without waiting."""

    def __init__(
        self, sock: socket.socket, expires_at: float, read_timeout: Optional[float]
    ) -> None:
        super().__init__()
        self.socket = sock
        self.expires_at = expires_at
        self.read_timeout = read_timeout
        self.polling = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> Optional[int]:
        if self.polling:
            self.socket.settimeout(0.0)
        else:
            remaining = self.expires_at - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("the call's deadline passed")
            timeout = self.read_timeout
            self.socket.settimeout(remaining if timeout is None else min(timeout, remaining))
        return self._read_into(buffer)

    def _read_into(self, buffer: Any) -> Optional[int]:
        raise NotImplementedError


class _DeadlineReader(_DeadlineReads):
    """Deadline-bound reads through the file ``socket.makefile`` made, for one answer.

    That file counts a reference on the socket: when ``http.client`` closes the connection
    after an answer that ends with the connection (HTTP/1.0, ``Connection: close``), the fd
    stays open until this file is closed.
    """

    def __init__(
        self, raw: Any, sock: socket.socket, expires_at: float, read_timeout: Optional[float]
    ) -> None:
        super().__init__(sock, expires_at, read_timeout)
        self._raw = raw

    def fileno(self) -> int:
        return int(self._raw.fileno())

    def _read_into(self, buffer: Any) -> Optional[int]:
        count: Optional[int] = self._raw.readinto(buffer)
        return count

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


class SocketReads(_DeadlineReads):
    """Deadline-bound reads straight from a connection's socket, for every answer on it
    (the direct route's): its deadline is set anew for each call. It holds no reference on
    the socket, which is the connection's to close."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock, 0.0, None)

    def fileno(self) -> int:
        return self.socket.fileno()

    def _read_into(self, buffer: Any) -> Optional[int]:
        return self.socket.recv_into(buffer)


class ConnectionFile(io.BufferedReader):
    """A connection's one buffered file, built when it connects and read by every answer on
    it: building a file per answer costs more than a call's own work. An answer that is done
    closes it, which leaves it open for the next (what is left in it is checked, and a
    connection with bytes to spare is not used again)."""

    raw: SocketReads

    def close(self) -> None:
        """Nothing: the file lives as long as its connection's socket."""

    def flush(self) -> None:
        """Nothing to flush in a file that only reads. (An answer's close flushes its file,
        which the garbage collector may have finalized first with a dropped connection.)"""

    def makefile(self, mode: str) -> ConnectionFile:
        """Itself: ``http.client``'s response asks the socket it is given for its file."""
        return self


class _Answer(http.client.HTTPResponse):
    """``http.client``'s response, which skips 1xx answers and notes what waited in its file
    when it closed it."""

    left_over = b""  # what waited in the file when http.client closed it
    _socket: socket.socket

    def _read_status(self) -> Tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 101 < status < 200:  # 100 is http.client's to skip; 101 switches protocol
                return version, status, reason
            http.client.parse_headers(self.fp)  # an informational answer's headers: skipped

    def _close_conn(self) -> None:
        # http.client closes its file as soon as a body's last byte is read (a chunked one's,
        # and from Python 3.12 one of known length), and with it any answer that came
        # after: note it first.
        if self.fp is not None:
            self.left_over = _buffered(self.fp, self._socket)
        super()._close_conn()  # type: ignore[misc]


class DeadlineResponse(_Answer):
    """The answer to a request urllib3 sent on one of our pools' connections, reading
    through a deadline-bound file of its own."""

    holds_socket = True  # its file keeps the socket's fd open until the file is closed

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self._socket = sock
        _call.answer = self
        expires_at = getattr(_call, "expires_at", None)
        if expires_at is not None:
            raw = self.fp.detach()  # makefile's raw file, and the reference it holds
            if not self.holds_socket:
                raw.close()
                raw = socket.SocketIO(sock, "rb")
            self.fp = io.BufferedReader(_DeadlineReader(raw, sock, expires_at, sock.gettimeout()))


class DirectResponse(_Answer):
    """The answer to a request the direct route wrote, read through its connection's file."""

    def __init__(self, file: ConnectionFile) -> None:
        super().__init__(file, method="POST")  # type: ignore[arg-type]
        self._socket = file.raw.socket


def buffered(response: Any) -> bytes:
    """What ``http.client`` holds in its buffer of the answer of ``response`` (urllib3's),
    not read yet: the body's start, and anything that came after it, without waiting."""
    fp = getattr(getattr(response, "_fp", None), "fp", None)
    sock = getattr(getattr(response, "_connection", None), "sock", None)
    return b"" if fp is None or sock is None else _buffered(fp, sock)


def waiting(response: Any) -> bytes:
    """What already waits on the connection of ``response`` (urllib3's), read whole: bytes
    left in ``http.client``'s buffer or on the socket, taken without waiting; b"" when there
    are none or the server only closed. What it finds is consumed: a connection where this
    is not empty is not for reuse."""
    answer = getattr(response, "_fp", None)
    left_over: bytes = getattr(answer, "left_over", b"")
    sock = getattr(getattr(response, "_connection", None), "sock", None)
    if left_over or sock is None:
        return left_over
    fp = getattr(answer, "fp", None)
    if fp is not None:
        return _buffered(fp, sock)
    if not wait_for_read(sock, timeout=0.0):
        return b""
    try:
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            return bytes(sock.recv(1))
        finally:
            sock.settimeout(timeout)
    except OSError:  # nothing but the end, or TLS's own records, or a reset
        return b""


def _buffered(fp: Any, sock: Any) -> bytes:
    """The bytes already in ``fp``'s buffer or on the socket under it, without waiting."""
    raw = getattr(fp, "raw", None)
    polled = raw if isinstance(raw, _DeadlineReads) else None
    try:
        timeout = sock.gettimeout()
        if polled is not None:
            polled.polling = True
        sock.settimeout(0.0)
        try:
            return bytes(fp.peek(1))
        finally:
            sock.settimeout(timeout)
    except (OSError, ValueError):  # nothing to read now (TLS says so with an error), or closed
        return b""
    finally:
        if polled is not None:
            polled.polling = False


class _TunnelResponse(DeadlineResponse):
    """A proxy's answer to CONNECT. ``http.client`` before Python 3.12 never closes it, so it
    holds no reference on the socket: closing the connection closes the fd, as it should."""

    holds_socket = False


class _Tunnelling:
    response_class: Any = DeadlineResponse
    answer_file: Optional[ConnectionFile] = None  # the direct route's, for the socket it reads

    def _tunnel(self) -> None:
        self.response_class = _TunnelResponse
        try:
            super()._tunnel()  # type: ignore[misc]
        finally:
            del self.response_class


def our_connection_class(cls: object) -> bool:
    """Whether ``cls`` makes the connections above (the direct route needs their file)."""
    return isinstance(cls, type) and issubclass(cls, _Tunnelling)


class _HTTPConnection(_Tunnelling, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_Tunnelling, urllib3.connection.HTTPSConnection):
    pass


class _HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, whose pools (direct and through an HTTP proxy) make the
    connections above."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have connections of their own
            manager.pool_classes_by_scheme = _POOLS
        return manager
