"""The options a client runs with, validated once, in one place.

``Client``, the transport and the token sources all read the same frozen :class:`Settings`,
so an option cannot be honoured by one of them and forgotten by another (the token fetch
once ran on its own 30 s deadline while the call it served had 3 s).
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests

from ._version import __version__

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
# The default base_url when set (and not empty): how a program written for WeChat reaches a
# fake or a relay without being edited, as openai-python reads OPENAI_BASE_URL.
BASE_URL_ENV = "WECHAT_OPENAPI_BASE_URL"
DEFAULT_TIMEOUT = (5.0, 10.0)  # (connect, read) seconds; a read timeout bounds each socket read
# Seconds for a whole call: the token fetch, every attempt, backoff and body read. Well inside
# gunicorn's default 30 s worker timeout, so a slow WeChat fails a request, not a worker.
DEFAULT_DEADLINE = 20.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024

Timeout = Union[float, Tuple[float, float]]


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def _timeout_pair(timeout: object) -> Tuple[float, float]:
    if isinstance(timeout, tuple):
        if len(timeout) != 2:
            raise ValueError("timeout must be a number or a (connect, read) pair")
        return _seconds("timeout[0] (connect)", timeout[0]), _seconds(
            "timeout[1] (read)", timeout[1]
        )
    seconds = _seconds("timeout", timeout)
    return seconds, seconds


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _base_url(url: object, name: str = "base_url") -> str:
    if not isinstance(url, str):
        raise TypeError(f"{name} must be a str, got {type(url).__name__}")
    shown = repr(_without_credentials(url))
    try:
        parts = urlsplit(url)
        port = parts.port  # a port out of 0-65535, or not a number, raises here
    except ValueError:
        raise ValueError(f"{name} is not a valid URL, got {shown}") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{name} must not carry credentials (they would not be sent, and would show in "
            f"messages); got {shown}"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{name} must be an http(s) URL without a query, got {shown}")
    if port == 0 or any(ord(character) < 32 or ord(character) == 127 for character in url):
        raise ValueError(f"{name} is not a valid URL, got {shown}")
    return url.rstrip("/")


def _without_credentials(url: str) -> str:
    """``url`` for a message: whatever precedes an ``@`` in its authority (a user and
    password) replaced by ``***``."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, slashes, _ = head.partition("//")
    return f"{scheme}{slashes}***@{tail}" if slashes else f"***@{tail}"


def _printable(text: str) -> bool:
    """No control character (CR and LF would split an HTTP head) and nothing beyond
    Latin-1, which HTTP heads are written in."""
    return all(31 < ord(character) < 256 and ord(character) != 127 for character in text)


def default_base_url() -> str:
    """$WECHAT_OPENAPI_BASE_URL if set and not empty, checked as ``base_url`` is but naming
    the variable; else WeChat's own. Read when a client is built, never at import, so a
    process that sets it first (a test, a recipe run against the fake) is heard."""
    url = os.environ.get(BASE_URL_ENV, "")
    return _base_url(url, BASE_URL_ENV) if url else DEFAULT_BASE_URL


def required_text(name: str, value: object) -> str:
    """``value`` if it is a str with more than spaces in it; else TypeError naming it.
    ValueError if UTF-8 cannot encode it (a lone surrogate); the value is never quoted."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a non-empty str")
    return encodable(name, value)


def encodable(name: str, value: str) -> str:
    """``value``, if UTF-8 can encode it, as every body and query must be; else ValueError
    naming the argument (and not quoting it: it may be a secret)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{name} holds a character UTF-8 cannot encode (a lone surrogate, at index "
            f"{error.start})"
        ) from None
    return value


def _user_agent(value: object) -> str:
    if value is None:
        return f"wechat-openapi/{__version__} python-requests/{requests.__version__}"
    if not isinstance(value, str):
        raise TypeError(f"user_agent must be a str, got {type(value).__name__}")
    if not _printable(value) or value != value.strip():
        raise ValueError(
            "user_agent must be one line of Latin-1 text without control characters or "
            f"surrounding spaces, got {value[:80]!r}"
        )
    return value


class Settings(NamedTuple):
    """Everything a call needs to know besides its token; build with :meth:`create`.

    A named tuple (immutable) rather than an attrs class, so that building a Client does not
    import attrs (about 10 ms of a cron script's start).
    """

    base_url: str
    connect_timeout: float
    read_timeout: float
    deadline: float
    max_retries: int
    max_response_bytes: int
    user_agent: str

    @classmethod
    def create(
        cls,
        *,
        base_url: Optional[str] = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        user_agent: Optional[str] = None,
    ) -> Settings:
        """Check every option, raising TypeError or ValueError that names the bad one.
        ``base_url=None`` is :func:`default_base_url`'s."""
        connect, read = _timeout_pair(timeout)
        return cls(
            base_url=default_base_url() if base_url is None else _base_url(base_url),
            connect_timeout=connect,
            read_timeout=read,
            deadline=_seconds("deadline", deadline),
            max_retries=_count("max_retries", max_retries, 0),
            max_response_bytes=_count("max_response_bytes", max_response_bytes, 1),
            user_agent=_user_agent(user_agent),
        )

    def override(
        self,
        *,
        timeout: Optional[Timeout] = None,
        deadline: Optional[float] = None,
        max_retries: Optional[int] = None,
    ) -> Settings:
        """These settings with the per-call options a derived client may change (None keeps)."""
        if timeout is None and deadline is None and max_retries is None:
            return self
        connect, read = (
            (self.connect_timeout, self.read_timeout) if timeout is None else _timeout_pair(timeout)
        )
        return self._replace(
            connect_timeout=connect,
            read_timeout=read,
            deadline=self.deadline if deadline is None else _seconds("deadline", deadline),
            max_retries=(
                self.max_retries if max_retries is None else _count("max_retries", max_retries, 0)
            ),
        )
