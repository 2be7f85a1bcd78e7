"""ComponentPlatform: a third-party platform acting for the accounts that authorized it.

This is the one object a platform builds. It holds the configuration and hands each concern
to its module: the token chain (``_tokens``, ``_ticket``), WeChat's pushes (``_push``, with
the crypto in ``_crypto``), the accounts (``_accounts``) and their recovery (``_recovery``),
and the durable state (``_store``).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from types import TracebackType
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Type, Union

from .. import _fork
from .._settings import _count, _seconds, required_text
from .._shared_cache import DEFAULT_MARGIN, CacheGuard, SharedCache, account_key
from ..client import Client
from ..errors import (
    COMPONENT_CLEAR_QUOTA_PATH,
    COMPONENT_CLEAR_QUOTA_V2_PATH,
    START_PUSH_TICKET_PATH,
)
from ..tokens import CallContext
from . import _accounts
from ._crypto import PushKeys, push_keys
from ._models import Authorization, AuthorizerInfo, AuthorizerListing
from ._push import DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES, Push, open_push
from ._store import DurableStore, RefreshTokenStore
from ._ticket import VerifyTickets
from ._tokens import AuthorizerTokenSlot, ComponentTokenSlot

# What a component_verify_ticket looks like ("ticket@@@" and URL-safe text): anything else,
# such as a whole XML document handed over by mistake, is refused.
_TICKET_SHAPE = re.compile(r"[\x21-\x7e]{1,512}")
_NOT_IN_TICKETS = frozenset("<>&\"'")


class ComponentPlatform:
    """A third-party platform (服务商) acting for the accounts that authorized it.

    ``refresh_tokens`` stores each account's refresh token (see :class:`RefreshTokenStore`);
    ``cache`` (Django's cache API) shares the ticket and every token between processes;
    ``margin`` is as for StableTokenProvider; the other options are Client's and apply to
    every call, token fetches included. The secret, tickets and tokens appear in no str,
    repr, log record or error message; cache keys carry a hash of each appid.
    """

    def __init__(
        self,
        component_appid: str,
        component_secret: str,
        *,
        refresh_tokens: RefreshTokenStore,
        cache: Optional[SharedCache] = None,
        margin: float = DEFAULT_MARGIN,
        key_prefix: str = "wechat_openapi",
        clock: Callable[[], float] = time.time,
        push_token: Optional[str] = None,
        encoding_aes_key: Optional[str] = None,
        push_max_age: Optional[float] = DEFAULT_MAX_AGE,
        push_max_bytes: int = DEFAULT_MAX_BYTES,
        **client_options: Any,
    ) -> None:
        required_text("component_appid", component_appid)
        required_text("component_secret", component_secret)
        self._store = DurableStore(refresh_tokens)
        self._appid = component_appid
        self._secret = component_secret
        self._push_keys = _push_keys(push_token, encoding_aes_key, component_appid)
        self._push_max_age = (
            None if push_max_age is None else _seconds("push_max_age", push_max_age)
        )
        self._push_max_bytes = _count("push_max_bytes", push_max_bytes, 1024)
        self._cache = cache
        self._key_prefix = key_prefix
        self._clock = clock
        self._shared: Dict[str, Any] = {"cache": cache, "margin": margin, "clock": clock}
        self._tickets = VerifyTickets(
            cache=CacheGuard(cache),
            key=account_key(key_prefix, "component_ticket", component_appid),
            store=self._store,
            clock=clock,
            owner=secrets.token_hex(8),
            start_push=self._start_push,
        )
        self._component_token = ComponentTokenSlot(
            self, key=account_key(key_prefix, "component_token", component_appid), **self._shared
        )
        self._client = Client(token_provider=self._component_token, **client_options)
        self._authorizers: Dict[str, AuthorizerTokenSlot] = {}
        self._authorizers_lock = threading.Lock()
        _fork.register(self)

    # Pushes -------------------------------------------------------------------------

    def handle_push(
        self, body: Union[bytes, str], *, msg_signature: str, timestamp: str, nonce: str
    ) -> Push:
        """Verify, decrypt and apply one push to the callback URL; answer WeChat ``success``.

        ``body`` is the raw POST body; the keywords are WeChat's query parameters. A ticket
        is kept (the newest wins); ``unauthorized`` forgets the account (its tokens, and its
        refresh token through ``refresh_tokens.delete``), so that its calls raise
        AuthorizationRevokedError without a round trip; ``authorized``/``updateauthorized``
        drop its tokens. The returned Push carries the authorization code to complete with
        :meth:`complete_authorization`. Raises PushVerificationError for a push that does
        not check out (answer it with a 4xx).
        """
        if self._push_keys is None:
            raise ValueError(
                "handle_push needs ComponentPlatform(push_token=..., encoding_aes_key=...): "
                "the Token and EncodingAESKey of the platform's console"
            )
        push, ticket = open_push(
            body,
            msg_signature=msg_signature,
            timestamp=timestamp,
            nonce=nonce,
            keys=self._push_keys,
            now=self._clock(),
            max_age=self._push_max_age,
            max_bytes=self._push_max_bytes,
        )
        if ticket is not None:  # stamped with its push's time, never with a future one
            self._tickets.set(ticket, min(push.create_time.timestamp(), self._clock()))
        elif push.authorizer_appid and push.info_type == "unauthorized":
            self._authorizer(push.authorizer_appid).withdrawn()
        elif push.authorizer_appid and push.info_type in ("authorized", "updateauthorized"):
            self._authorizer(push.authorizer_appid).changed()
        return push

    def set_verify_ticket(self, ticket: str) -> None:
        """Keep ``ticket`` (from a push you decrypted yourself) for 12 hours, stamped now;
        the newest wins. :meth:`handle_push` does this for you, with the push's time."""
        if not isinstance(ticket, str):
            raise TypeError(f"ticket must be a str, got {type(ticket).__name__}")
        ticket = ticket.strip()
        if not _TICKET_SHAPE.fullmatch(ticket) or _NOT_IN_TICKETS.intersection(ticket):
            raise ValueError(
                "ticket must be the ComponentVerifyTicket value itself (printable text of at "
                "most 512 characters, no spaces or markup), not the push or its XML"
            )
        self._tickets.set(ticket, self._clock())

    def start_push_ticket(self) -> None:
        """Ask WeChat to resume pushing tickets to the callback URL (api_start_push_ticket)."""
        self._start_push(self._client._context())

    def _start_push(self, call: CallContext) -> None:
        body = {"component_appid": self._appid, "component_secret": self._secret}
        call.post(START_PUSH_TICKET_PATH, body, secrets=(self._secret,))

    # Accounts -------------------------------------------------------------------------

    def authorization_url(
        self,
        redirect_uri: str,
        *,
        auth_type: int = 3,
        biz_appid: Optional[str] = None,
        mobile: bool = False,
    ) -> str:
        """The page where an account's admin authorizes the platform, with a fresh
        single-use pre_auth_code (30 minutes). It works only when opened from a page on the
        platform's registered domain.

        ``auth_type``: 1 Official Accounts, 2 Mini Programs, 3 both (4-6 as WeChat adds
        kinds); ``biz_appid`` names the one account that may authorize (and wins over
        ``auth_type``); ``mobile`` gives the link for WeChat's in-app browser. WeChat
        redirects to ``redirect_uri`` with ``auth_code``: pass it to
        :meth:`complete_authorization`.
        """
        return _accounts.authorization_url(
            self, redirect_uri, auth_type=auth_type, biz_appid=biz_appid, mobile=mobile
        )

    def complete_authorization(self, auth_code: str) -> Authorization:
        """Trade an ``auth_code`` (from the redirect, or an ``authorized`` push) for the
        account's authorization (api_query_auth). Its refresh token is saved through
        ``refresh_tokens`` and its authorizer token seeded, so the account's first call
        fetches no token. An account that granted no permission set gets no tokens: then
        nothing is saved and ``has_tokens`` is False."""
        return _accounts.complete_authorization(self, auth_code)

    def get_authorizer_info(self, authorizer_appid: str) -> AuthorizerInfo:
        """An authorized account's profile and permission sets (api_get_authorizer_info)."""
        required_text("authorizer_appid", authorizer_appid)
        return _accounts.authorizer_info(self, authorizer_appid, self._client._context())

    def iter_authorizers(self) -> Iterator[AuthorizerListing]:
        """Every account that authorizes the platform (api_get_authorizer_list), a page of
        up to 500 at a time, each page one call with its own deadline. An account added or
        removed during the walk may be missed or seen twice."""
        return _accounts.iter_authorizers(self)

    # Quota ----------------------------------------------------------------------------

    def clear_quota(self) -> None:
        """Reset the platform's own API quotas (component/clear_quota, with the component
        token). 10 resets a month; never retried."""
        self._post_as_platform(self._client._context(), COMPONENT_CLEAR_QUOTA_PATH, {}, retry=False)

    def clear_quota_by_component_secret(self, appid: Optional[str] = None) -> None:
        """Reset quotas with the component secret and no token (component/clear_quota/v2):
        the way out when api_component_token's own quota is used up. ``appid``: an
        authorized account's, to reset its quotas instead of the platform's. Never retried."""
        body = {"component_appid": self._appid, "appsecret": self._secret}
        if appid is not None:
            body["appid"] = required_text("appid", appid)
        call = self._client._context()
        call.post(COMPONENT_CLEAR_QUOTA_V2_PATH, body, secrets=(self._secret,), retry=False)

    def client(self, authorizer_appid: str) -> Client:
        """A client for one authorized account, on the platform's connection pool. Its token
        is fetched when a call first needs it. Cheap enough to make on every request."""
        return self._client.with_options(token_provider=self._authorizer(authorizer_appid))

    def component_client(self) -> Client:
        """A client using the component token itself, for the platform's own calls (such as
        rid lookups of its component API calls)."""
        return self._client.with_options()

    def close(self) -> None:
        """Close the connection pool; every client this platform made then refuses calls."""
        self._client.close()

    def __enter__(self) -> ComponentPlatform:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        cache = type(self._cache).__name__ if self._cache is not None else None
        return f"<ComponentPlatform component_appid=<hidden> cache={cache}>"

    def after_fork_in_child(self) -> None:
        """A parent thread may have held the lock at fork; the child gets a fresh one."""
        self._authorizers_lock = threading.Lock()

    def _post_as_platform(
        self,
        call: CallContext,
        path: str,
        body: Dict[str, Any],
        *,
        secrets: Tuple[str, ...] = (),
        retry: bool = True,
    ) -> Dict[str, Any]:
        """POST ``body`` to a component API as this platform: ``component_appid`` in the
        body, the component token in the query, within ``call``'s deadline."""
        return call.post_with_token(
            self._component_token,
            path,
            {"component_appid": self._appid, **body},
            token_name="component_access_token",
            secrets=(self._secret, *secrets),
            retry=retry,
        )

    def _authorizer(self, appid: str) -> AuthorizerTokenSlot:
        tokens = self._authorizers.get(appid) if isinstance(appid, str) else None
        if tokens is not None:
            return tokens
        required_text("authorizer_appid", appid)
        with self._authorizers_lock:
            tokens = self._authorizers.get(appid)
            if tokens is None:
                key = account_key(self._key_prefix, "authorizer_token", appid)
                tokens = AuthorizerTokenSlot(self, appid, key=key, **self._shared)
                self._authorizers[appid] = tokens
            return tokens


def _push_keys(
    push_token: Optional[str], encoding_aes_key: Optional[str], appid: str
) -> Optional[PushKeys]:
    if push_token is None and encoding_aes_key is None:
        return None
    if push_token is None or encoding_aes_key is None:
        raise TypeError("give both push_token and encoding_aes_key, or neither")
    return push_keys(push_token, encoding_aes_key, appid)
