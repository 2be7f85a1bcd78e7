"""Sending one POST to WeChat, retrying what may pass, within the call's deadline.

One transport serves a client and every client derived from it, and every token fetch made
for them: one pool, one User-Agent, one set of proxies and certificates, one size cap.

Everything that can be settled once is settled when the transport is built: the adapter for
the base URL, proxies and CA bundle from the environment, the headers. On the fast path a call
then takes a connection from requests' own pool (the adapter's, taken once) and writes a head
built once (the direct route, ``_direct``); where the pool does not offer what that needs, it
calls urllib3's ``urlopen`` with preloading, retries and redirects off. It falls back to
``adapter.send`` when a proxy applies, when the session is the user's, or when
``HTTPAdapter.send`` has been patched (``responses`` does that), and to ``session.send`` when
that has been patched (requests-mock does that), so users' mocks keep working.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import ssl
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3
from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, HTTPAdapter
from requests.utils import select_proxy

from . import _fork
from ._connection import DeadlineAdapter, close_dropped_answer, set_deadline
from ._direct import DirectRoute, Head, route_for
from ._reader import Exchange, caught, describe, hand_back_answers
from ._redact import install_log_redaction, redact_query_token
from ._settings import Settings
from .errors import (
    APIError,
    InvalidResponseError,
    RequestTimeoutError,
    TransportError,
    WeChatError,
)

POOL_SIZE = 32  # connections kept per host: more than the 16 threads a busy Django worker runs
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
# Switches for tests, which run the suite every way: FAST_PATH off sends through the adapter,
# DIRECT off through urllib3's urlopen.
FAST_PATH = True
DIRECT = True

# To notice when a mocking library has patched them: responses patches the adapter's send,
# requests-mock the session's.
_ADAPTER_SEND = HTTPAdapter.send
_SESSION_SEND = requests.Session.send

# Headers we set ourselves (keep-alive is HTTP/1.1's default: no Connection header needed).
_OURS = frozenset({"user-agent", "accept", "accept-encoding", "content-type", "connection"})

logger = logging.getLogger("wechat_openapi")

# One encoder for every body: json.dumps with options builds a new one on each call.
_encode_json = json.JSONEncoder(ensure_ascii=False).encode

install_log_redaction()


def backoff_delay(retry: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): capped exponential, full jitter."""
    return rand() * min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (retry - 1))


class Transport:
    """POSTs JSON to one WeChat base URL; thread-safe, and safe to keep across ``os.fork()``."""

    def __init__(self, settings: Settings, session: Optional[requests.Session] = None) -> None:
        if session is not None and not isinstance(session, requests.Session):
            raise TypeError(f"session must be a requests.Session, got {type(session).__name__}")
        self.settings = settings
        # Seams for tests, so that no test sleeps or depends on chance.
        self.sleep: Callable[[float], None] = time.sleep
        self.backoff: Callable[[int], float] = backoff_delay
        self.closed = False

        self.owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        base_url = settings.base_url
        self._adapter = session.get_adapter(base_url)
        # Proxies (HTTPS_PROXY, NO_PROXY) and the CA bundle (REQUESTS_CA_BUNDLE) are read
        # from the environment and the session once, here, as httpx does.
        environment = session.merge_environment_settings(base_url, {}, None, None, None)
        self._send_options: Dict[str, Any] = {
            "stream": True,
            "verify": environment["verify"],
            "cert": environment["cert"],
            "proxies": environment["proxies"],
        }
        headers = {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in session.headers.items()
            if name.lower() not in _OURS
        }
        headers["User-Agent"] = settings.user_agent
        headers["Accept"] = "application/json"
        headers["Accept-Encoding"] = "identity"
        headers["Content-Type"] = "application/json; charset=utf-8"
        self._headers = headers
        self._path_prefix = urlsplit(base_url).path  # a relay's prefix, or ""
        self._origin = base_url[: len(base_url) - len(self._path_prefix)]
        # Our own session holds one pool for one host, so the pool taken from it stays valid.
        self._fast = (
            self.owns_session
            and type(self._adapter) is DeadlineAdapter
            and not select_proxy(base_url, environment["proxies"])
        )
        self._pool: Any = None  # requests' urllib3 pool for the base URL, taken on first use
        self._direct: Optional[DirectRoute] = None  # the route on it, where it can be taken
        self._pool_lock = threading.Lock()
        self._timeouts: Dict[Tuple[float, float], urllib3.Timeout] = {}
        self._quoted: Tuple[Optional[str], str] = (None, "")  # the last token, URL-quoted
        _fork.register(self)

    def call(
        self,
        path: str,
        body: Mapping[str, Any],
        settings: Settings,
        expires_at: float,
        *,
        token: Optional[str] = None,
        token_name: str = "access_token",
        query: Tuple[Tuple[str, str], ...] = (),
        secrets: Tuple[str, ...] = (),
        retry: bool = True,
    ) -> Dict[str, Any]:
        """POST ``body`` as JSON to ``path`` and return the answer, whose ``errcode`` is 0.

        Raises the errcode's APIError subclass, TransportError or InvalidResponseError; a
        retryable failure is first tried again, up to ``settings.max_retries`` times (none
        when ``retry`` is false) and never past ``expires_at``, a ``time.monotonic()`` value.
        ``token`` goes in the query parameter ``token_name`` (``access_token``, or
        ``component_access_token`` for the component endpoints), before the ``query`` pairs;
        it and ``secrets`` are masked in every message. ``settings`` are the calling
        client's (timeouts, retries).
        """
        if self.closed:
            raise RuntimeError("this Client, or the client it was derived from, is closed")
        payload = _encode_json(body).encode("utf-8")
        target = self._path_prefix + path
        if token is not None:
            quoted = self._quoted
            if quoted[0] is not token:  # most calls reuse the last token: quote it once
                quoted = self._quoted = (token, quote(token, safe=""))
            target += f"?{token_name}={quoted[1]}"
            secrets = (token, *secrets)
        if query:
            target += ("&" if token is not None else "?") + urlencode(query)
        attempts = settings.max_retries + 1 if retry else 1
        attempt = 1
        while True:
            started = time.monotonic()
            try:
                data = self._attempt(path, target, payload, settings, expires_at, secrets)
            except WeChatError as error:
                if logger.isEnabledFor(logging.DEBUG):
                    _log_attempt(path, attempt, attempts, _outcome(error), started)
                if attempt >= attempts or not error.retryable:
                    raise
                delay = self.backoff(attempt)
                if time.monotonic() + delay >= expires_at:
                    raise
            else:
                if logger.isEnabledFor(logging.DEBUG):
                    _log_attempt(path, attempt, attempts, "errcode=0", started)
                return data
            self.sleep(delay)
            attempt += 1

    def _attempt(
        self,
        path: str,
        target: str,
        payload: bytes,
        settings: Settings,
        expires_at: float,
        secrets: Tuple[str, ...],
    ) -> Dict[str, Any]:
        hand_back_answers()
        remaining = expires_at - time.monotonic()
        if remaining <= 0:
            when = "before the request could be sent"
            raise RequestTimeoutError.deadline_passed(settings.deadline, when, path)
        connect = min(settings.connect_timeout, remaining)
        read = min(settings.read_timeout, remaining)
        unpatched = HTTPAdapter.send is _ADAPTER_SEND and requests.Session.send is _SESSION_SEND
        if FAST_PATH and self._fast and unpatched:
            if self._pool is None:
                self._take_pool()
            direct = self._direct
            if direct is not None and DIRECT:
                head = caught(lambda: direct.send(target, payload, expires_at, connect, read))
            else:
                head = self._sent(self._urlopen, target, payload, expires_at, connect, read)
        else:
            head = self._sent(self._send, target, payload, expires_at, connect, read)
        if isinstance(head, Exception):
            deadline_bound = read < settings.read_timeout or time.monotonic() >= expires_at
            if deadline_bound and _is_timeout(head):
                when = "while waiting for the answer"
                raise RequestTimeoutError.deadline_passed(settings.deadline, when, path)
            raise _network_error(path, self._origin + target, head, secrets)
        status, reason, answer_headers, raw = head
        exchange = Exchange(
            path,
            status,
            answer_headers,
            raw,
            settings=settings,
            expires_at=expires_at,
            secrets=secrets,
        )
        return exchange.answer(reason or "")

    def _sent(
        self,
        send: Callable[[str, Dict[str, str], bytes, float, float], Head],
        target: str,
        payload: bytes,
        expires_at: float,
        connect: float,
        read: float,
    ) -> Union[Head, Exception]:
        """The head of the answer ``send`` got through urllib3, or the network error it
        raised; the deadline bounds every read of the head, on our pools' connections."""
        headers = self._headers.copy()
        headers["Content-Length"] = str(len(payload))
        set_deadline(expires_at)
        try:
            head = caught(lambda: send(target, headers, payload, connect, read))
            if isinstance(head, Exception):
                close_dropped_answer()
            return head
        finally:
            set_deadline(None)

    def _urlopen(
        self, target: str, headers: Dict[str, str], payload: bytes, connect: float, read: float
    ) -> Head:
        """The fast path where the direct route cannot be taken: urllib3's ``urlopen``, on the
        pool requests' adapter made."""
        pool = self._pool  # taken by _attempt, with the direct route
        raw = pool.urlopen(
            "POST",
            target,
            body=payload,
            headers=headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            release_conn=False,
            timeout=self._timeout(connect, read),
        )
        return raw.status, raw.reason, raw.headers, raw

    def _send(
        self, target: str, headers: Dict[str, str], payload: bytes, connect: float, read: float
    ) -> Head:
        """The fallback: a prepared request handed to the adapter, or to the session where a
        mock has patched ``Session.send``."""
        request = requests.PreparedRequest()
        request.method = "POST"
        request.url = self._origin + target
        request.headers = requests.structures.CaseInsensitiveDict(headers)
        request.body = payload
        if requests.Session.send is _SESSION_SEND:
            response = self._adapter.send(request, timeout=(connect, read), **self._send_options)
        else:
            response = self.session.send(
                request, timeout=(connect, read), allow_redirects=False, **self._send_options
            )
        return response.status_code, response.reason, response.headers, response.raw

    def _take_pool(self) -> Any:
        """requests' urllib3 pool for the base URL, configured as ``adapter.send`` would."""
        with self._pool_lock:
            if self._pool is None:
                adapter: Any = self._adapter  # requests' own HTTPAdapter, checked in __init__
                url = self.settings.base_url
                verify, cert = self._send_options["verify"], self._send_options["cert"]
                with_tls = getattr(adapter, "get_connection_with_tls_context", None)
                if with_tls is not None:  # requests 2.32.2 and later
                    request = requests.PreparedRequest()
                    request.url = url
                    pool = with_tls(request, verify, cert=cert)
                else:
                    pool = adapter.get_connection(url)
                adapter.cert_verify(pool, url, verify, cert)
                self._direct = route_for(pool, url, self._headers)
                self._pool = pool
            return self._pool

    def _timeout(self, connect: float, read: float) -> urllib3.Timeout:
        timeout = self._timeouts.get((connect, read))
        if timeout is None:
            timeout = urllib3.Timeout(connect=connect, read=read)
            if len(self._timeouts) < 64:  # the usual pairs; deadline-cut ones are not kept
                self._timeouts[(connect, read)] = timeout
        return timeout

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
        self._pool = None
        self._direct = None
        self._pool_lock = threading.Lock()

    def close(self) -> None:
        """Refuse further calls; close the session if this transport created it (a user's
        session stays theirs)."""
        self.closed = True
        if self.owns_session:
            self.session.close()
            if self._pool is not None:  # urllib3 2's PoolManager.clear leaves pools to the GC
                self._pool.close()


def _network_error(
    path: str, url: str, error: Exception, secrets: Tuple[str, ...]
) -> TransportError:
    """Our exception for a failure to send or to get an answer's head; a certificate that
    does not verify is not worth retrying."""
    where = redact_query_token(url)
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        what = f"could not connect ({where})"
    elif _is_timeout(error):
        return RequestTimeoutError(describe(path, f"timed out ({where})", error, secrets), path)
    else:
        what = f"failed ({where})"
    ssl_errors = (requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError)
    retryable = not isinstance(error, ssl_errors)
    return TransportError(describe(path, what, error, secrets), path, retryable)


def _is_timeout(error: Exception) -> bool:
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return False  # a refused connection, though it subclasses ConnectTimeoutError
    return isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError, socket.timeout))


def _outcome(error: WeChatError) -> str:
    if isinstance(error, APIError):
        return f"errcode={error.errcode} {type(error).__name__}"
    if isinstance(error, InvalidResponseError) and error.status_code is not None:
        return f"HTTP {error.status_code} {type(error).__name__}"
    return type(error).__name__


def _log_attempt(path: str, attempt: int, attempts: int, outcome: str, started: float) -> None:
    logger.debug(
        "POST %s attempt %d/%d: %s, %.1f ms",
        path,
        attempt,
        attempts,
        outcome,
        (time.monotonic() - started) * 1000,
    )
