"""Sending one POST to WeChat and reading its answer within bounds, retries included.

Everything that can be settled once is settled when the transport is built: the adapter
for the base URL, proxies and CA bundle from the environment, the headers. A call then
does only per-call work: it builds the prepared request by hand and gives it straight to
the adapter, skipping ``Session.request``, which re-reads the environment and re-merges
settings on every call.

Errors are built outside ``except`` blocks (errors are returned as values, raised at the
end), so what the caller catches has no chained requests/urllib3 exception, whose message
would quote the URL and with it the access token.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import random
import socket
import time
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, HTTPAdapter
from requests.structures import CaseInsensitiveDict

from . import _fork
from ._redact import install_log_redaction, scrub
from ._version import __version__
from .errors import (
    InvalidResponseError,
    RequestTimeoutError,
    TransportError,
    WeChatError,
)
from .models import as_int

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
DEFAULT_TIMEOUT = (5.0, 10.0)  # (connect, read) seconds; a read timeout bounds each socket read
DEFAULT_DEADLINE = 30.0  # seconds for a whole call: every attempt, backoff and body read
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
POOL_SIZE = 32  # connections kept per host: more than the 16 threads a busy Django worker runs
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
_CHUNK = 64 * 1024

Timeout = Union[float, Tuple[float, float]]
Answer = Union[Dict[str, Any], TransportError, InvalidResponseError]

logger = logging.getLogger("wechat_openapi")

install_log_redaction()


def backoff_delay(retry: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): capped exponential, full jitter."""
    return rand() * min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (retry - 1))


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def _timeout_pair(timeout: object) -> Tuple[float, float]:
    if isinstance(timeout, tuple):
        if len(timeout) != 2:
            raise ValueError("timeout must be a number or a (connect, read) pair")
        return _positive("timeout[0] (connect)", timeout[0]), _positive(
            "timeout[1] (read)", timeout[1]
        )
    seconds = _positive("timeout", timeout)
    return seconds, seconds


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _base(url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"base_url must be a str, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"base_url must be an http(s) URL without a query, got {url!r}")
    return url.rstrip("/")


def _retryable(answer: Answer) -> bool:
    """All three endpoints are read-only, so any failure that may be passing is retried."""
    if isinstance(answer, TransportError):
        return answer.retryable
    if isinstance(answer, InvalidResponseError):
        status = answer.status_code or 0
        return status == 429 or status >= 500
    return answer.get("errcode") == -1


def _inflate(body: bytes, encoding: str, limit: int) -> Optional[bytes]:
    """Decode a gzip/deflate body without letting it grow past ``limit``; None if impossible."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
    if encoding not in wbits:
        return None
    try:
        inflater = zlib.decompressobj(wbits[encoding])
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        return None
    return data if len(data) <= limit and not inflater.unconsumed_tail else None


class Transport:
    """POSTs JSON to one WeChat base URL; thread-safe, and safe to keep across ``os.fork()``."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: Optional[requests.Session] = None,
        user_agent: Optional[str] = None,
    ) -> None:
        self.base_url = _base(base_url)
        self.connect_timeout, self.read_timeout = _timeout_pair(timeout)
        self.deadline = _positive("deadline", deadline)
        self.max_retries = _count("max_retries", max_retries, 0)
        self.max_response_bytes = _count("max_response_bytes", max_response_bytes, 1)
        if session is not None and not isinstance(session, requests.Session):
            raise TypeError(f"session must be a requests.Session, got {type(session).__name__}")
        if user_agent is not None and not isinstance(user_agent, str):
            raise TypeError(f"user_agent must be a str, got {type(user_agent).__name__}")
        # Seams for tests, so that no test sleeps or depends on chance.
        self.sleep: Callable[[float], None] = time.sleep
        self.backoff: Callable[[int], float] = backoff_delay

        self.owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self._adapter = session.get_adapter(self.base_url)
        # Proxies (HTTPS_PROXY, NO_PROXY) and the CA bundle (REQUESTS_CA_BUNDLE) are read
        # from the environment and the session once, here, as httpx does.
        settings = session.merge_environment_settings(self.base_url, {}, None, None, None)
        self._send_options: Dict[str, Any] = {
            "stream": True,
            "verify": settings["verify"],
            "cert": settings["cert"],
            "proxies": settings["proxies"],
        }
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(
            {
                name: value if isinstance(value, str) else value.decode("latin-1")
                for name, value in session.headers.items()
            }
        )
        headers["User-Agent"] = user_agent or (
            f"wechat-openapi/{__version__} python-requests/{requests.__version__}"
        )
        headers["Accept"] = "application/json"
        headers["Accept-Encoding"] = "identity"
        headers["Content-Type"] = "application/json; charset=utf-8"
        self._headers = headers
        _fork.register(self)

    def post(
        self,
        path: str,
        payload: bytes,
        expires_at: float,
        *,
        token: Optional[str] = None,
        secrets: Tuple[str, ...] = (),
        max_retries: Optional[int] = None,
    ) -> Dict[str, Any]:
        """POST ``payload`` to ``path`` and return the decoded answer, retrying what may pass.

        ``token`` goes in the ``access_token`` query parameter; it and ``secrets`` are cut out
        of every message. ``max_retries`` overrides the transport's for this call. The
        returned dict's ``errcode`` is an int (0 when WeChat left it out) and its ``errmsg`` a
        str. Raises TransportError or InvalidResponseError once retries or the deadline
        (``expires_at``, a ``time.monotonic()`` value) run out.
        """
        url = self.base_url + path
        if token is not None:
            url += f"?access_token={quote(token, safe='')}"
            secrets = (token, *secrets)
        attempts = (self.max_retries if max_retries is None else max_retries) + 1
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            status, answer = self._attempt(path, url, secrets, payload, expires_at)
            if logger.isEnabledFor(logging.DEBUG):
                _log_attempt(path, attempt, attempts, status, answer, started)
            if attempt == attempts or not _retryable(answer):
                break
            delay = self.backoff(attempt)
            if time.monotonic() + delay >= expires_at:
                break
            self.sleep(delay)
        if isinstance(answer, WeChatError):
            raise answer
        return answer

    def _attempt(
        self, path: str, url: str, secrets: Tuple[str, ...], payload: bytes, expires_at: float
    ) -> Tuple[Optional[int], Answer]:
        remaining = expires_at - time.monotonic()
        if remaining <= 0:
            return None, self._deadline_passed(path, "before the request could be sent")
        request = requests.PreparedRequest()
        request.method = "POST"
        request.url = url
        request.headers = self._headers.copy()
        request.headers["Content-Length"] = str(len(payload))
        request.body = payload
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        try:
            response = self._adapter.send(request, timeout=timeout, **self._send_options)
        except requests.Timeout as exc:
            return None, RequestTimeoutError(_describe(path, "timed out", exc, secrets), path)
        except requests.RequestException as exc:
            retryable = not isinstance(exc, requests.exceptions.SSLError)
            return None, TransportError(_describe(path, "failed", exc, secrets), path, retryable)
        status = response.status_code
        content_type = response.headers.get("Content-Type", "no content type")
        if not 200 <= status < 300:
            response.close()
            message = f"POST {path}: HTTP {status} {response.reason or ''} ({content_type})"
            return status, InvalidResponseError(scrub(message, secrets), path, status)
        body = self._read_body(path, secrets, response, expires_at)
        if not isinstance(body, bytes):
            return status, body
        return status, _decode(path, secrets, status, content_type, body)

    def _read_body(
        self, path: str, secrets: Tuple[str, ...], response: requests.Response, expires_at: float
    ) -> Union[bytes, TransportError, InvalidResponseError]:
        """Read the body in pieces, so neither its size nor a slow trickle can exceed a bound.

        ``read1`` of the underlying ``http.client`` response returns what one socket read
        brings, so the deadline is checked between reads; as the deadline nears, the socket's
        own timeout is shortened so a silent server cannot hold one read past it.
        """
        status = response.status_code
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        expected = int(declared) if declared.isdigit() else None
        if expected is not None and expected > limit:
            response.close()
            return _too_big(path, status, f"{expected} bytes", limit)
        raw = response.raw
        read_some = getattr(getattr(raw, "_fp", None), "read1", None) or raw.read
        sock = getattr(getattr(raw, "_connection", None), "sock", None)
        chunks: List[bytes] = []
        size = 0
        failure: Optional[Union[TransportError, InvalidResponseError]] = None
        deadline_bounds_read = False
        try:
            while True:
                remaining = expires_at - time.monotonic()
                if remaining <= 0:
                    failure = self._deadline_passed(
                        path, f"while reading the answer ({size} bytes in)"
                    )
                    break
                if sock is not None and remaining < self.read_timeout:
                    sock.settimeout(remaining)
                    deadline_bounds_read = True
                chunk = read_some(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    failure = _too_big(path, status, f"over {limit} bytes", limit)
                    break
                chunks.append(chunk)
        except socket.timeout:
            failure = (
                self._deadline_passed(path, f"while reading the answer ({size} bytes in)")
                if deadline_bounds_read
                else RequestTimeoutError(f"POST {path}: timed out reading the answer", path)
            )
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            failure = TransportError(_describe(path, "broke while reading", exc, secrets), path)
        if failure is None and expected is not None and size < expected:
            failure = TransportError(
                f"POST {path}: the connection closed after {size} of {expected} bytes", path
            )
        if failure is not None:
            response.close()
            return failure
        raw.release_conn()
        body = b"".join(chunks)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            inflated = _inflate(body, encoding, limit)
            if inflated is None:
                message = f"POST {path}: cannot decode a {encoding!r} body within {limit} bytes"
                return InvalidResponseError(message, path, status)
            body = inflated
        return body

    def _deadline_passed(self, path: str, when: str) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"POST {path}: the call's deadline of {self.deadline:g}s passed {when}", path
        )

    def after_fork_in_child(self) -> None:
        """Drop pooled connections without closing them: in a forked child the sockets
        belong to the parent. New pools are made; the old ones are just let go."""
        for adapter in self.session.adapters.values():
            if isinstance(adapter, HTTPAdapter):
                adapter.init_poolmanager(
                    getattr(adapter, "_pool_connections", DEFAULT_POOLSIZE),
                    getattr(adapter, "_pool_maxsize", DEFAULT_POOLSIZE),
                    block=getattr(adapter, "_pool_block", DEFAULT_POOLBLOCK),
                )
                adapter.proxy_manager = {}

    def close(self) -> None:
        """Close the session if this transport created it; a user's session stays theirs."""
        if self.owns_session:
            self.session.close()


def _describe(path: str, what: str, exc: BaseException, secrets: Tuple[str, ...]) -> str:
    """Our own words for a transport failure; the cause's text is kept, with the token cut out."""
    return scrub(f"POST {path} {what}: {type(exc).__name__}: {exc}", secrets)


def _too_big(path: str, status: int, size: str, limit: int) -> InvalidResponseError:
    message = f"POST {path}: the answer is {size}, over the {limit}-byte cap (max_response_bytes)"
    return InvalidResponseError(message, path, status)


def _decode(
    path: str, secrets: Tuple[str, ...], status: int, content_type: str, body: bytes
) -> Answer:
    """Parse the body as a JSON object whatever Content-Type says (WeChat sends JSON as
    text/plain, and some errors as an empty text/html 200)."""
    problem = ""
    parsed: Any = None
    if not body.strip():
        problem = "an empty body"
    else:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            problem = "a body that is not JSON"
        else:
            if not isinstance(parsed, dict):
                problem = f"a JSON {type(parsed).__name__}, not an object"
    if problem:
        preview = scrub(body[:120].decode("utf-8", "replace"), secrets)
        message = (
            f"POST {path}: expected a JSON object, got {problem} (HTTP {status}, {content_type})"
        )
        if preview.strip():
            message += f": {preview!r}"
        return InvalidResponseError(message, path, status)
    data: Dict[str, Any] = parsed
    errcode = as_int(data.get("errcode", 0))
    if errcode is None:
        message = f"POST {path}: errcode is not an integer: {data['errcode']!r:.40}"
        return InvalidResponseError(scrub(message, secrets), path, status)
    errmsg = data.get("errmsg", "")
    data["errcode"] = errcode
    data["errmsg"] = scrub(errmsg if isinstance(errmsg, str) else str(errmsg), secrets)
    return data


def _log_attempt(
    path: str, attempt: int, attempts: int, status: Optional[int], answer: Answer, started: float
) -> None:
    if isinstance(answer, WeChatError):
        outcome = type(answer).__name__
    else:
        outcome = f"errcode={answer['errcode']}"
    logger.debug(
        "POST %s attempt %d/%d: HTTP %s, %s, %.1f ms",
        path,
        attempt,
        attempts,
        status if status is not None else "-",
        outcome,
        (time.monotonic() - started) * 1000,
    )
