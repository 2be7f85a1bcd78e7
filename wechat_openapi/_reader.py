"""Reading one answer within its bounds and turning it into data or the mapped exception.

This is the only place an answer is interpreted: the status, the size cap, the deadline
while the body trickles in, the JSON, and the errcode, which becomes its exception class
through :func:`~wechat_openapi.errors.api_error`. What the caller gets back is a dict whose
``errcode`` is 0; anything else is raised.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import zlib
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
)

import urllib3

from ._connection import buffered, waiting
from ._fields import _quoted, as_int
from ._redact import SECRET_ANSWERS, scrub, shown, strings_in
from ._settings import Settings
from .errors import (
    InvalidResponseError,
    RequestTimeoutError,
    TransportError,
    WeChatError,
    api_error,
)

_CHUNK = 64 * 1024
# What a socket, http.client, urllib3 or requests raise when the network fails us (requests'
# exceptions are OSErrors, and socket.timeout is one too).
NETWORK_ERRORS = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)

_PREVIEW = 120  # characters of a body that is not JSON shown in the message
_MAX_DEPTH = 100  # levels of JSON nesting; WeChat's answers have 3 or 4
_PREVIEW_SCAN = 64 * 1024  # bytes of such a body decoded and masked to find what is shown
_CAUSE_MAX = 500  # characters of a network error's own text shown in ours
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

_Result = TypeVar("_Result")


def caught(function: Callable[[], _Result]) -> Union[_Result, Exception]:
    """``function()``, or the network error it raised, returned.

    Our own exception is then raised outside the ``except`` block, so it chains nothing: the
    network error's message can quote the URL, and with it the access token.
    """
    try:
        return function()
    except NETWORK_ERRORS as error:
        return error


class Exchange:
    """One request's answer as it arrives, and what reading it must respect."""

    __slots__ = ("expires_at", "headers", "limit", "path", "raw", "secrets", "settings", "status")

    def __init__(
        self,
        path: str,
        status: int,
        headers: Mapping[str, str],
        raw: Any,
        *,
        settings: Settings,
        expires_at: float,
        secrets: Tuple[str, ...],
    ) -> None:
        self.path = path
        self.status = status
        self.headers = headers
        self.raw = raw  # urllib3's response, whichever way it was sent
        self.settings = settings  # the calling client's: its deadline and read timeout
        self.limit = settings.max_response_bytes
        self.expires_at = expires_at
        self.secrets = secrets

    def answer(self, reason: str) -> Dict[str, Any]:
        """The decoded answer of a 200, with ``errcode`` 0; raises for everything else (a
        ``205 Reset Content`` or a ``206`` with a body is not an answer either)."""
        if self.status != 200:
            self.discard()
            message = (
                f"POST {self.path}: HTTP {self.status} {self._shown(reason, 80)} "
                f"({self._shown(self.content_type, 80)})"
            )
            raise InvalidResponseError(message, self.path, self.status)
        body = self._body()
        try:
            data = self._decode(self._inflate(body))
        except InvalidResponseError:
            # An answer we cannot use may be another request's, with this one's still to
            # come on the connection: no later call may read it there.
            self.discard()
            raise
        except WeChatError:  # an errcode: a whole answer, in step with its request
            self._release()
            raise
        self._release()
        return data

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "no content type")

    def discard(self) -> None:
        """Close the connection: what is left of the answer will never be read."""
        self.raw.close()
        self.raw.release_conn()

    def deadline_passed(self, when: str) -> RequestTimeoutError:
        return RequestTimeoutError.deadline_passed(self.settings.deadline, when, self.path)

    def _body(self) -> bytes:
        """The body, read a socket read at a time so that neither its size nor a slow trickle
        can pass a bound. As the deadline nears, the socket's own timeout is shortened so that
        a silent server cannot hold one read past it. The connection is handed back only once
        the body proves usable (``_release``)."""
        expected = declared_length(self.headers.get("Content-Length", ""))
        if expected is not None and expected > self.limit:
            self.discard()
            raise self._too_big(f"declares {expected} bytes")
        raw = self.raw
        # What follows a body of known length is in the buffer by now if it came with the
        # head; http.client drops the buffer with the body's last byte on Python 3.12+.
        behind = b"" if expected is None else buffered(raw)[expected:]
        read_some = getattr(getattr(raw, "_fp", None), "read1", None) or raw.read
        sock = getattr(getattr(raw, "_connection", None), "sock", None)
        chunks: List[bytes] = []
        size = 0
        while True:
            remaining = self.expires_at - time.monotonic()
            if remaining <= 0:
                self.discard()
                raise self.deadline_passed(f"while reading the answer ({size} bytes in)")
            deadline_bounds_read = sock is not None and remaining < self.settings.read_timeout
            if deadline_bounds_read:
                sock.settimeout(remaining)  # type: ignore[union-attr]
            chunk = caught(lambda: read_some(_CHUNK))
            if isinstance(chunk, Exception):
                self.discard()
                raise self._broken(chunk, size, deadline_bounds_read)
            if not chunk:
                break
            size += len(chunk)
            if size > self.limit:
                self.discard()
                raise self._too_big(f"ran past {size} bytes")
            chunks.append(chunk)
            if size == expected:
                break  # all that was declared; no need to wait for the end of the stream
        if expected is not None and size < expected:
            self.discard()
            message = f"POST {self.path}: the connection closed after {size} of {expected} bytes"
            raise TransportError(message, self.path)
        extra = behind or waiting(raw)
        if extra:  # the connection is out of step with its requests: not for reuse
            self.discard()
            if extra.strip():
                raise self._out_of_step()
        return b"".join(chunks)

    def _release(self) -> None:
        """Hand the connection back to the pool once the answer proved usable, or, within
        :class:`AnswersInHand`, once the model built from it did."""
        # http.client counts a response read with read1 as unfinished until it is closed, and
        # refuses the connection's next request meanwhile: close it before handing it back.
        fp = getattr(self.raw, "_fp", None)
        if fp is not None:
            fp.close()
        in_hand = getattr(_in_hand, "answers", None)
        if in_hand is None:
            self.raw.release_conn()
        else:
            in_hand.append(self.raw)

    def _broken(self, failure: Exception, size: int, deadline_bounds_read: bool) -> WeChatError:
        if not isinstance(failure, socket.timeout):
            return TransportError(describe(self.path, "broke while reading", failure, self.secrets))
        if deadline_bounds_read or time.monotonic() >= self.expires_at:
            return self.deadline_passed(f"while reading the answer ({size} bytes in)")
        return RequestTimeoutError(f"POST {self.path}: timed out reading the answer", self.path)

    def _out_of_step(self) -> TransportError:
        """More came than the answer: a second answer to one request, or one meant for an
        earlier request that was read as this one's. Which is which cannot be told, so the
        answer is not trusted; a retry goes out on a new connection."""
        message = (
            f"POST {self.path}: more arrived after the answer on the same connection; the "
            "answer read may not be this request's, so it was dropped with the connection"
        )
        return TransportError(message, self.path)

    def _too_big(self, size: str) -> InvalidResponseError:
        message = (
            f"POST {self.path}: the answer {size}, over the {self.limit}-byte cap "
            "(max_response_bytes)"
        )
        return InvalidResponseError(message, self.path, self.status)

    def _inflate(self, body: bytes) -> bytes:
        """A gzip/deflate body decoded without letting it grow past the cap (we ask for
        identity, but a proxy may compress anyway)."""
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return body
        wbits = _WBITS.get(encoding)
        if wbits is not None:
            inflater = zlib.decompressobj(wbits)
            try:
                data: Optional[bytes] = inflater.decompress(body, self.limit + 1)
            except zlib.error:
                data = None
            if data is not None and len(data) <= self.limit and not inflater.unconsumed_tail:
                return data
        message = (
            f"POST {self.path}: cannot decode a {self._shown(repr(encoding), 40)} body within "
            f"{self.limit} bytes"
        )
        raise InvalidResponseError(message, self.path, self.status)

    def _shown(self, text: str, limit: int) -> str:
        """Server-supplied ``text`` for a message: masked first, then cut to ``limit``
        characters (a cut first could leave half a token for the mask to miss)."""
        return shown(text, self.secrets, limit)

    def _decode(self, body: bytes) -> Dict[str, Any]:
        """The body as a JSON object whatever Content-Type says (WeChat sends JSON as
        text/plain, and some errors as an empty text/html 200), its errcode raised."""
        parsed: Any = None
        problem = ""
        if not body.strip():
            problem = "an empty body"
        elif _nested_deeper_than(body, _MAX_DEPTH):
            problem = f"a body nested deeper than {_MAX_DEPTH} levels"
        else:
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):
                problem = "a body that is not JSON"
            else:
                if not isinstance(parsed, dict):
                    problem = f"a JSON {type(parsed).__name__}, not an object"
        if problem:
            message = (
                f"POST {self.path}: expected a JSON object, got {problem} "
                f"(HTTP {self.status}, {self._shown(self.content_type, 80)})"
            )
            if self.path in SECRET_ANSWERS:  # a token in it cannot be told from its text
                message += ": not shown, as it may hold a token"
            elif body.strip():
                preview = body[:_PREVIEW_SCAN].decode("utf-8", "replace")
                complete = len(body) <= _PREVIEW_SCAN
                message += f": {shown(preview, self.secrets, _PREVIEW, complete=complete)!r}"
            raise InvalidResponseError(message, self.path, self.status)
        data: Dict[str, Any] = parsed
        secrets = self.secrets
        if self.path in SECRET_ANSWERS:  # its other strings may be the tokens it issued
            secrets = (*secrets, *strings_in(data, skip=("errmsg",)))
        errcode = as_int(data.get("errcode", 0))
        if errcode is None:
            quoted = shown(_quoted(data["errcode"]), secrets, 40)
            message = f"POST {self.path}: errcode is not an integer: {quoted}"
            raise InvalidResponseError(message, self.path, self.status)
        errmsg = data.get("errmsg", "")
        errmsg = scrub(errmsg if isinstance(errmsg, str) else str(errmsg), secrets)
        if errcode != 0:
            raise api_error(errcode, errmsg, self.path)
        data["errcode"] = 0
        data["errmsg"] = errmsg
        return data


def _nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether ``body``'s JSON nests deeper than ``limit``, brackets in strings aside. Parsing
    such a body recurses to the interpreter's limit, where any finalizer the garbage collector
    runs meanwhile fails too; a body with few brackets is let through without a scan."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def declared_length(declared: str) -> Optional[int]:
    """A Content-Length of ASCII digits as an int; None for anything else (``'²'.isdigit()``
    is true, and ``int`` refuses it; a number longer than any answer is not one either)."""
    if declared.isascii() and declared.isdigit() and len(declared) <= 18:
        return int(declared)
    return None


def describe(path: str, what: str, error: BaseException, secrets: Tuple[str, ...]) -> str:
    """Our own words for a network failure; the cause's text is kept, masked and cut.

    A token endpoint's answer may have begun to arrive (an HTTP/0.9 answer is quoted whole
    in a ``BadStatusLine``): there, the cause's text is kept only for a failure to connect,
    and otherwise only the names of the errors are given."""
    if path in SECRET_ANSWERS and not any(isinstance(e, _CONNECTING) for e in _chain(error)):
        kinds = " from ".join(type(e).__name__ for e in _chain(error))
        return f"POST {path} {what}: {kinds} (its text is not shown, as it may hold a token)"
    return f"POST {path} {what}: {type(error).__name__}: {shown(str(error), secrets, _CAUSE_MAX)}"


# Failures before any byte of an answer could arrive.
_CONNECTING = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    socket.gaierror,
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the errors it wraps (in its args, a ``reason``, its cause), bounded."""
    pending = [error]
    seen: List[BaseException] = []
    while pending and len(seen) < 8:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        yield current
        wrapped = [*current.args, getattr(current, "reason", None), current.__cause__]
        pending += [item for item in wrapped if isinstance(item, BaseException)]


_in_hand = threading.local()  # .answers: the answers whose connections AnswersInHand holds


def hand_back_answers() -> None:
    """Before a new request: hand back the connection of the answer held in hand, whose model
    was built by now (a token source builds its token from the answer before it sends the
    next request), so that the next request can take it from the pool."""
    answers = getattr(_in_hand, "answers", None)
    if answers:
        for raw in answers:
            raw.release_conn()
        answers.clear()


class AnswersInHand:
    """``with AnswersInHand():`` keeps the connection of the last answer read in the block out
    of the pool until it ends (or the next request goes out): handed back if it ends well,
    closed if it ends with an InvalidResponseError. A JSON answer whose model cannot be built
    may be another request's, with this one's still to come on its connection, where the
    next call would read it. Nested blocks leave it to the outermost."""

    __slots__ = ("_outermost",)

    def __enter__(self) -> None:
        self._outermost = getattr(_in_hand, "answers", None) is None
        if self._outermost:
            _in_hand.answers = []

    def __exit__(self, kind: Optional[Type[BaseException]], *rest: object) -> None:
        if not self._outermost:
            return
        answers: List[Any] = _in_hand.answers
        _in_hand.answers = None
        unusable = kind is not None and issubclass(kind, InvalidResponseError)
        for raw in answers:
            if unusable:
                raw.close()  # the connection with it
            raw.release_conn()
