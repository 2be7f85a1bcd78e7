"""The platform's token chain: the verify ticket, the component token, each account's
authorizer token.

WeChat pushes a ``component_verify_ticket`` to the platform's callback URL every 10 minutes
(valid 12 hours). The ticket buys a component token (``api_component_token``, 2 hours); the
component token and an account's ``authorizer_refresh_token`` buy that account's authorizer
token (``api_authorizer_token``, 2 hours), and WeChat may return a new refresh token with it,
which must be saved every time.

Every token here is a :class:`~wechat_openapi._shared_cache.SharedToken`: with ``cache=``, all
processes share one ticket, one component token and one authorizer token per account, each
fetched by one process at a time within the deadline of the call that needed it, and fetched
anew early only when WeChat refused that exact token.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple

import attr

from .._redact import scrub
from .._shared_cache import CacheDown, CacheGuard, SharedToken
from ..errors import (
    AUTHORIZER_TOKEN_PATH,
    COMPONENT_TOKEN_PATH,
    RefreshTokenInvalidError,
    TokenUnavailableError,
)
from ..models import AuthorizerToken, ComponentToken, parsed
from ..tokens import CallContext

if TYPE_CHECKING:
    from ._platform import ComponentPlatform

TICKET_LIFETIME = 12 * 3600  # seconds a component_verify_ticket is valid

logger = logging.getLogger("wechat_openapi")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Ticket:
    ticket: str = attr.ib(repr=False)
    received: float  # Unix time


class _VerifyTickets:
    """The newest component_verify_ticket, in memory and in the shared cache."""

    def __init__(self, cache: CacheGuard, key: str, clock: Callable[[], float]) -> None:
        self._cache = cache
        self._key = key
        self._clock = clock
        self._newest: Optional[_Ticket] = None

    def set(self, ticket: str) -> None:
        newest = _Ticket(ticket, self._clock())
        self._newest = newest
        if self._cache.present:
            value = {"ticket": newest.ticket, "received": newest.received}
            with contextlib.suppress(CacheDown):
                self._cache.ask("set", self._key, value, TICKET_LIFETIME)

    def get(self) -> str:
        """The newest ticket any process received, if it is under 12 hours old."""
        newest = self._newest
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                shared = self._cache.ask("get", self._key)
                if isinstance(shared, dict) and isinstance(shared.get("ticket"), str):
                    received = shared.get("received")
                    if isinstance(received, (int, float)) and (
                        newest is None or received >= newest.received
                    ):
                        newest = _Ticket(shared["ticket"], float(received))
        if newest is None or self._clock() - newest.received >= TICKET_LIFETIME:
            raise TokenUnavailableError(
                "no component_verify_ticket received in the last 12 hours: has the callback "
                "URL received WeChat's pushes (one every 10 minutes)? start_push_ticket() asks "
                "WeChat to resume them"
            )
        return newest.ticket


class _ComponentToken(SharedToken):
    """The platform's component_access_token, bought with the newest ticket."""

    def __init__(self, platform: ComponentPlatform, **shared: Any) -> None:
        super().__init__(label="the component token", **shared)
        self._platform = platform

    def _fetch(self, refused: Optional[str], call: CallContext) -> Tuple[str, int]:
        platform = self._platform
        ticket = platform._tickets.get()
        body = {
            "component_appid": platform._appid,
            "component_appsecret": platform._secret,
            "component_verify_ticket": ticket,
        }
        data = call.post(COMPONENT_TOKEN_PATH, body, secrets=(platform._secret, ticket))
        issued = parsed(ComponentToken.from_response, data, COMPONENT_TOKEN_PATH, (ticket,))
        return issued.component_access_token, issued.expires_in

    def __repr__(self) -> str:
        return "<component token>"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Rotation:
    """A refresh token WeChat replaced, and its replacement, not yet saved to the store."""

    replaced: str = attr.ib(repr=False)
    replacement: str = attr.ib(repr=False)


class _AuthorizerToken(SharedToken):
    """One authorized account's authorizer_access_token, bought with the component token and
    the account's refresh token.

    A refresh token WeChat replaces is gone at WeChat, so its replacement is never lost: it
    is kept (in memory and the shared cache) until ``refresh_tokens.save`` has taken it, and
    used instead of the stored one while the store still holds the replaced one. The fetch is
    never retried blindly (a retry would spend a refresh token WeChat may have replaced), and
    a refresh token WeChat refused (61023) is refused again at once, without a round trip,
    until the store holds another.
    """

    def __init__(self, platform: ComponentPlatform, appid: str, **shared: Any) -> None:
        super().__init__(label="an authorizer token", **shared)
        self._platform = platform
        self.appid = appid  # the authorized account (and what Client.clear_quota resets)
        self._rotation_key = f"{self._token_key}:rotation"
        self._rotation: Optional[_Rotation] = None
        self._refused: Optional[Tuple[str, RefreshTokenInvalidError]] = None

    def _fetch(self, refused: Optional[str], call: CallContext) -> Tuple[str, int]:
        platform = self._platform
        stored = platform._refresh_tokens.load(self.appid)
        if not isinstance(stored, str) or not stored:
            raise TokenUnavailableError(
                "no authorizer_refresh_token stored for this account: has it authorized the "
                "platform? (refresh_tokens.load returned "
                f"{'an empty str' if stored == '' else type(stored).__name__})"
            )
        rotation = self._unsaved_rotation()
        refresh_token = rotation.replacement if rotation and rotation.replaced == stored else stored
        if self._refused is not None and self._refused[0] == refresh_token:
            error = self._refused[1]
            raise type(error)(error.errcode, error.errmsg, error.path)
        body = {
            "component_appid": platform._appid,
            "authorizer_appid": self.appid,
            "authorizer_refresh_token": refresh_token,
        }
        try:
            data = call.post_with_token(
                platform._component_token,
                AUTHORIZER_TOKEN_PATH,
                body,
                token_name="component_access_token",
                secrets=(refresh_token,),
                retry=False,
            )
        except RefreshTokenInvalidError as error:
            self._refused = (refresh_token, error)
            self._forget()  # the authorizer token WeChat refused before this is no use either
            raise
        secrets = (call.token, refresh_token)
        issued = parsed(AuthorizerToken.from_response, data, AUTHORIZER_TOKEN_PATH, secrets)
        replacement = issued.authorizer_refresh_token
        if replacement is not None:
            self._save(refresh_token, replacement)
        elif rotation is not None and refresh_token == rotation.replacement:
            self._save(rotation.replaced, rotation.replacement)  # still unsaved: try again
        return issued.authorizer_access_token, issued.expires_in

    def _unsaved_rotation(self) -> Optional[_Rotation]:
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                shared = self._cache.ask("get", self._rotation_key)
                if isinstance(shared, dict):
                    replaced, replacement = shared.get("replaced"), shared.get("replacement")
                    if isinstance(replaced, str) and isinstance(replacement, str):
                        return _Rotation(replaced, replacement)
        return self._rotation

    def _save(self, used: str, replacement: str) -> None:
        """Save ``replacement``; until the store has taken it, keep it to use and save again."""
        rotation = _Rotation(used, replacement) if replacement != used else None
        if rotation is not None:
            self._keep(rotation)
        try:
            self._platform._refresh_tokens.save(self.appid, replacement)
        except Exception as error:  # the store's failure: the refresh token matters more
            logger.warning(
                "refresh_tokens.save failed (%s: %.200s); the new authorizer_refresh_token is "
                "kept in memory and the shared cache, and saved again at the next fetch",
                type(error).__name__,
                scrub(str(error), (used, replacement)),
            )
            return
        if rotation is not None:
            self._keep(None)

    def _keep(self, rotation: Optional[_Rotation]) -> None:
        self._rotation = rotation
        if self._cache.present:
            value = None if rotation is None else attr.asdict(rotation)
            with contextlib.suppress(CacheDown):
                self._cache.ask("set", self._rotation_key, value, None if rotation else 1)

    def __repr__(self) -> str:
        return "<authorizer token>"
