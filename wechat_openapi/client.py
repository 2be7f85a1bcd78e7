"""The Client: three WeChat OpenAPI endpoints, one call path.

Each public method checks its arguments, builds the body, and hands it to ``_call``, which
owns the token and the refresh-once rule; the transport below it owns sending, retrying and
reading. One Client is meant to be built once (at module level in Django, at start in a cron
script) and shared by every thread.
"""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import Any, Callable, Dict, Optional, Type, Union

import requests

from ._transport import (
    DEFAULT_BASE_URL,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    Timeout,
    Transport,
)
from .errors import AccessTokenError, api_error
from .models import NicknameAudit, OpenAccount, RidInfo
from .stable_token import SharedCache, StableTokenProvider
from .tokens import StaticToken, TokenProvider
from .tokens import token_provider as as_token_provider

RID_GET_PATH = "/cgi-bin/openapi/rid/get"
OPEN_GET_PATH = "/cgi-bin/open/get"
QUERY_NICKNAME_PATH = "/wxa/api_wxa_querynickname"


class Client:
    """A synchronous, thread-safe client for WeChat's rid, open-account and nickname APIs.

    Give exactly one of ``access_token`` (a fixed token) or ``token_provider`` (a function
    returning the current token; after a token error it is asked once more and the call is
    retried once if it yields a different token).

    Options: ``base_url``; ``timeout`` in seconds, one number or a (connect, read) pair, where
    read bounds each socket read; ``deadline``, the total seconds one method call may take,
    retries and slow bodies included; ``max_retries`` for failures that may pass (0 disables);
    ``max_response_bytes``, the largest answer read; ``session``, a ``requests.Session`` of
    yours whose headers, adapters, proxies and certificates are used (and which
    :meth:`close` leaves open); ``user_agent``.
    """

    def __init__(
        self,
        *,
        access_token: Optional[str] = None,
        token_provider: Union[TokenProvider, Callable[[], str], None] = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: Timeout = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: Optional[requests.Session] = None,
        user_agent: Optional[str] = None,
    ) -> None:
        self._tokens: TokenProvider
        if access_token is not None and token_provider is None:
            self._tokens = StaticToken(access_token)
        elif token_provider is not None and access_token is None:
            self._tokens = as_token_provider(token_provider)
        else:
            raise TypeError(
                "Client needs exactly one of access_token='...' or token_provider=callable"
            )
        self._transport = Transport(
            base_url,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            max_response_bytes=max_response_bytes,
            session=session,
            user_agent=user_agent,
        )
        self._closed = False
        self._also_close: Optional[Callable[[], None]] = None

    @classmethod
    def from_stable_token(
        cls, appid: str, secret: str, *, cache: Optional[SharedCache] = None, **options: Any
    ) -> Client:
        """A client whose tokens come from stable_token: the one-line setup for cron scripts.

        ``cache`` (a Django-style cache) shares one token between processes; see
        StableTokenProvider. The other options are Client's; ``base_url``, ``timeout``,
        ``max_retries`` and ``session`` apply to the token calls too.
        """
        shared = ("base_url", "timeout", "max_retries", "session")
        provider = StableTokenProvider(
            appid,
            secret,
            cache=cache,
            **{name: options[name] for name in shared if name in options},
        )
        client = cls(token_provider=provider, **options)
        client._also_close = provider.close
        return client

    def get_rid_info(self, rid: str) -> RidInfo:
        """Look up what WeChat recorded for the call that returned ``rid`` (last 7 days)."""
        if not isinstance(rid, str):
            raise TypeError(f"rid must be a str, got {type(rid).__name__}")
        if not rid.strip():
            raise ValueError("rid must not be empty or blank")
        return RidInfo.from_response(self._call(RID_GET_PATH, {"rid": rid.strip()}))

    def get_open_account(self, appid: Optional[str] = None) -> OpenAccount:
        """The open-platform account bound to this token's account (or to ``appid``, which
        must then be the token's own appid)."""
        if appid is not None and not isinstance(appid, str):
            raise TypeError(f"appid must be a str or None, got {type(appid).__name__}")
        if appid is not None and not appid.strip():
            raise ValueError("appid must not be empty or blank; pass None to use the token's own")
        body = {} if appid is None else {"appid": appid.strip()}
        return OpenAccount.from_response(self._call(OPEN_GET_PATH, body))

    def query_nickname_status(self, audit_id: int) -> NicknameAudit:
        """The state of the nickname change audit ``audit_id`` (returned by the set-name API)."""
        if isinstance(audit_id, bool) or not isinstance(audit_id, int):
            raise TypeError(f"audit_id must be an int, got {type(audit_id).__name__}")
        if audit_id <= 0:
            raise ValueError(f"audit_id must be a positive int, got {audit_id}")
        return NicknameAudit.from_response(self._call(QUERY_NICKNAME_PATH, {"audit_id": audit_id}))

    def _call(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        """POST ``body`` to ``path``; return the answer or raise the errcode's exception.

        A refused token is retried at most once, and only with a different token.
        """
        if self._closed:
            raise RuntimeError("this Client is closed")
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        expires_at = time.monotonic() + self._transport.deadline
        token = self._tokens.get_token()
        for attempt in range(2):  # the call, then at most one retry with a refreshed token
            data = self._transport.post(path, payload, expires_at, token=token)
            if data["errcode"] == 0:
                return data
            error = api_error(data["errcode"], data["errmsg"], path)
            if attempt == 0 and isinstance(error, AccessTokenError):
                fresh = self._tokens.refresh(token)
                if fresh != token:
                    token = fresh
                    continue
            raise error
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def close(self) -> None:
        """Release pooled connections (unless the session was passed in). Idempotent."""
        if not self._closed:
            self._closed = True
            self._transport.close()
            if self._also_close is not None:
                self._also_close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self._transport.base_url} token={self._tokens!r}>"
