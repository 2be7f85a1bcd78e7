"""The options a client runs with, validated once, in one place.

``Client``, the transport and the token sources all read the same frozen :class:`Settings`,
so an option cannot be honoured by one of them and forgotten by another (the token fetch
once ran on its own 30 s deadline while the call it served had 3 s).
"""

from __future__ import annotations

import math
import os
from typing import Optional, Tuple, Union
from urllib.parse import urlsplit

import attr
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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{name} must be an http(s) URL without a query, got {url!r}")
    return url.rstrip("/")


def default_base_url() -> str:
    """$WECHAT_OPENAPI_BASE_URL if set and not empty, checked as ``base_url`` is but naming
    the variable; else WeChat's own. Read when a client is built, never at import, so a
    process that sets it first (a test, a recipe run against the fake) is heard."""
    url = os.environ.get(BASE_URL_ENV, "")
    return _base_url(url, BASE_URL_ENV) if url else DEFAULT_BASE_URL


def required_text(name: str, value: object) -> str:
    """``value`` if it is a str with more than spaces in it; else TypeError naming it."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a non-empty str")
    return value


def _user_agent(value: object) -> str:
    if value is None:
        return f"wechat-openapi/{__version__} python-requests/{requests.__version__}"
    if not isinstance(value, str):
        raise TypeError(f"user_agent must be a str, got {type(value).__name__}")
    return value


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Settings:
    """Everything a call needs to know besides its token; build with :meth:`create`."""

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
        return attr.evolve(
            self,
            connect_timeout=connect,
            read_timeout=read,
            deadline=self.deadline if deadline is None else _seconds("deadline", deadline),
            max_retries=(
                self.max_retries if max_retries is None else _count("max_retries", max_retries, 0)
            ),
        )
