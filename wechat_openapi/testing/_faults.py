"""The ways a call to the fake can go wrong: WeChat errors, gateway pages, broken transport,
and an upstream that stalls.

A :class:`Fault` only describes the failure; the server acts it out when an injected fault
reaches the front of the queue (see ``FakeWeChat.inject``). A :class:`Stall` holds every
matching request for a while (see ``FakeWeChat.stall``).
"""

from __future__ import annotations

import enum
import json
from typing import Any, Mapping, Optional, Tuple

import attr

JSON_TYPE = "application/json; encoding=utf-8"  # what WeChat sends
HTML_TYPE = "text/html; charset=utf-8"


class FaultKind(str, enum.Enum):
    """What a :class:`Fault` makes the fake do."""

    API_ERROR = "api_error"  # answer with an errcode (and a queryable rid)
    RESPOND = "respond"  # answer with exactly this status, body and headers
    DELAY = "delay"  # wait, then answer normally
    TRICKLE = "trickle"  # answer normally, a byte at a time
    CUT = "cut"  # answer normally, but close the connection part-way through the body
    RESET = "reset"  # reset the connection without answering
    HUGE = "huge"  # stream a body of a given size
    RAW = "raw"  # write these bytes as the whole answer


@attr.s(auto_attribs=True, frozen=True)
class Fault:
    """Something that goes wrong with a call. Build one with a class method and pass it to
    :meth:`FakeWeChat.inject`."""

    kind: FaultKind
    errcode: int = 0
    errmsg: str = ""
    status: int = 200
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: Tuple[Tuple[str, str], ...] = ()
    chunked: bool = False
    seconds: float = 0.0
    size: int = 0

    @classmethod
    def api_error(cls, errcode: int, errmsg: str = "error") -> Fault:
        """Answer with this errcode (and a queryable rid), whatever the call."""
        return cls(FaultKind.API_ERROR, errcode=errcode, errmsg=errmsg)

    @classmethod
    def system_busy(cls) -> Fault:
        """errcode -1, which clients should retry."""
        return cls.api_error(-1, "system error")

    @classmethod
    def quota_exceeded(cls) -> Fault:
        """errcode 45009, which clients must not retry."""
        return cls.api_error(45009, "reach max api daily quota limit")

    @classmethod
    def respond(
        cls,
        status: int = 200,
        body: bytes = b"",
        content_type: str = JSON_TYPE,
        headers: Tuple[Tuple[str, str], ...] = (),
        chunked: bool = False,
    ) -> Fault:
        """Answer with exactly this status, body and headers."""
        return cls(
            FaultKind.RESPOND,
            status=status,
            body=body,
            content_type=content_type,
            headers=headers,
            chunked=chunked,
        )

    @classmethod
    def bad_gateway(cls) -> Fault:
        """HTTP 502 with an HTML page, as a gateway in front of WeChat sends."""
        page = b"<html><head><title>502 Bad Gateway</title></head><body>502</body></html>"
        return cls.respond(502, page, HTML_TYPE)

    @classmethod
    def html(cls) -> Fault:
        """HTTP 200 with an HTML page instead of JSON."""
        return cls.respond(200, b"<html><body>Please try again later</body></html>", HTML_TYPE)

    @classmethod
    def empty(cls) -> Fault:
        """HTTP 200 with an empty text/html body, as WeChat sends for some errors."""
        return cls.respond(200, b"", HTML_TYPE)

    @classmethod
    def truncated_json(cls) -> Fault:
        """HTTP 200 whose (complete) body is JSON cut off mid-way."""
        return cls.respond(200, b'{"errcode": 0, "errmsg": "ok", "open_appid": "wx')

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally (long enough, and it never answers)."""
        return cls(FaultKind.DELAY, seconds=seconds)

    @classmethod
    def trickle(cls, interval: float) -> Fault:
        """Answer normally, one byte of the body every ``interval`` seconds."""
        return cls(FaultKind.TRICKLE, seconds=interval)

    @classmethod
    def cut(cls, after: int) -> Fault:
        """Answer normally but close the connection after ``after`` bytes of the body."""
        return cls(FaultKind.CUT, size=after)

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then reset the connection (TCP RST) without answering."""
        return cls(FaultKind.RESET)

    @classmethod
    def huge(cls, size: int = 64 * 1024 * 1024, declare_length: bool = False) -> Fault:
        """A 200 body of ``size`` bytes, streamed; with no Content-Length unless declared."""
        return cls(FaultKind.HUGE, size=size, chunked=not declare_length)

    @classmethod
    def raw(cls, data: bytes) -> Fault:
        """Write these bytes as the whole answer, then close the connection."""
        return cls(FaultKind.RAW, body=data)


def _canonical(value: Any) -> str:
    """``value`` as JSON with sorted keys: equal for equal JSON, so ``true`` never equals
    ``1`` (as Python's ``True == 1`` would have it)."""
    return json.dumps(value, sort_keys=True)


@attr.s(auto_attribs=True, frozen=True)
class Stall:
    """Requests to ``path`` arriving before ``ends`` (``time.monotonic()``) whose JSON body
    holds every top-level field of ``where`` are held until ``ends``, then answered as usual,
    as by an upstream that stalls but still does the work. Build one with :meth:`create`."""

    path: str
    ends: float
    where: Tuple[Tuple[str, str], ...] = ()  # (field, its value as canonical JSON)

    @classmethod
    def create(cls, path: str, ends: float, where: Optional[Mapping[str, Any]]) -> Stall:
        """A stall of ``path`` until ``ends``; ``where``'s values are compared as JSON, so
        ``True`` never matches ``1`` (as Python's ``True == 1`` would have it)."""
        if where is not None and not isinstance(where, Mapping):
            raise TypeError(f"where must be a mapping of JSON fields, got {type(where).__name__}")
        pairs = []
        for name, value in (where or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"where's field names must be str, got {type(name).__name__}")
            pairs.append((name, _canonical(value)))
        return cls(path, ends, tuple(pairs))

    def holds(self, path: str, fields: Optional[Mapping[str, Any]]) -> bool:
        """Whether a request to ``path`` with this JSON body (None: not a JSON object) waits."""
        if path != self.path:
            return False
        if not self.where:
            return True
        return fields is not None and all(
            name in fields and _canonical(fields[name]) == wanted for name, wanted in self.where
        )
