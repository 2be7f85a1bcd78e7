"""The platform's token chain: the component token and each account's authorizer token.

The newest ``component_verify_ticket`` (see ``_ticket``) buys a component token
(``api_component_token``, 2 hours); the component token and an account's
``authorizer_refresh_token`` buy that account's authorizer token (``api_authorizer_token``,
2 hours), and WeChat may return a new refresh token with it, which must be saved every time.

Every token here is a :class:`~wechat_openapi._shared_cache.SharedToken`: with ``cache=``, all
processes share one component token and one authorizer token per account, each
fetched by one process at a time within the deadline of the call that needed it, and fetched
anew early only when WeChat refused that exact token.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Optional, Tuple

import attr

from .._shared_cache import CacheDown, SharedToken
from ..errors import (
    AUTHORIZER_TOKEN_PATH,
    COMPONENT_TOKEN_PATH,
    RefreshTokenInvalidError,
    TokenUnavailableError,
)
from ..models import AuthorizerToken, ComponentToken
from ..tokens import CallContext
from ._recovery import WITHDREW, AccountRecovery

if TYPE_CHECKING:
    from ._platform import ComponentPlatform


class ComponentTokenSlot(SharedToken):
    """The platform's component_access_token, bought with the newest ticket."""

    def __init__(self, platform: ComponentPlatform, **shared: Any) -> None:
        super().__init__(label="the component token", **shared)
        self._platform = platform

    def _fetch(self, force: bool, call: CallContext) -> Tuple[str, int]:
        platform = self._platform
        ticket = platform._tickets.get(call)
        body = {
            "component_appid": platform._appid,
            "component_appsecret": platform._secret,
            "component_verify_ticket": ticket,
        }
        data = call.post(COMPONENT_TOKEN_PATH, body, secrets=(platform._secret, ticket))
        issued = call.parsed(ComponentToken.from_response, data, COMPONENT_TOKEN_PATH)
        return issued.component_access_token, issued.expires_in

    def __repr__(self) -> str:
        return "<component token>"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Rotation:
    """A refresh token the store does not hold yet, and the one it holds instead ("" for
    none): the first is used while the store still holds the second."""

    replaced: str = attr.ib(repr=False)
    replacement: str = attr.ib(repr=False)


class AuthorizerTokenSlot(SharedToken):
    """One authorized account's authorizer_access_token, bought with the component token and
    the account's refresh token.

    A refresh token WeChat replaces is gone at WeChat, so its replacement is never only in
    flight: it is kept in the shared cache (and memory) before the store is asked to save
    it, used instead of the stored one until the store has it, and saved again at every
    fetch until then. The fetch is never retried blindly (a retry would spend a refresh token
    WeChat may have replaced); a refused (61023) or missing refresh token is looked up at
    WeChat instead (see ``_recovery``), and a refresh token refused again is refused at once,
    without a round trip, until the store holds another.
    """

    def __init__(self, platform: ComponentPlatform, appid: str, **shared: Any) -> None:
        super().__init__(label="an authorizer token", **shared)
        self._platform = platform
        self.appid = appid  # the authorized account (and what Client.clear_quota resets)
        self._rotation_key = f"{self._token_key}:rotation"
        self._rotation: Optional[_Rotation] = None
        self._refused: Optional[Tuple[str, RefreshTokenInvalidError]] = None
        self.recovery = AccountRecovery(
            platform,
            appid,
            cache=self._cache,
            key=self._token_key,
            owner=self._owner,
            clock=self._clock,
        )

    def _fetch(self, force: bool, call: CallContext) -> Tuple[str, int]:
        self.recovery.check()
        stored = self._platform._store.load(self.appid)
        refresh_token = self._unsaved(stored) or stored or self._recovered(None, stored, call)
        if refresh_token is None:
            raise TokenUnavailableError(
                "no authorizer_refresh_token stored for this account, and none to be had from "
                "WeChat just now (a missing one is looked up at most once every 5 minutes): "
                "has it authorized the platform?"
            )
        for attempt in range(2):  # the stored token, then at most one recovered from WeChat
            try:
                return self._exchange(refresh_token, stored, call)
            except RefreshTokenInvalidError as error:
                failure = error
            self._forget()  # the authorizer token WeChat refused before this is no use either
            recovered = self._recovered(refresh_token, stored, call) if attempt == 0 else None
            if recovered is None:
                self._refused = (refresh_token, failure)
                raise failure
            refresh_token = recovered
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _exchange(
        self, refresh_token: str, stored: Optional[str], call: CallContext
    ) -> Tuple[str, int]:
        """api_authorizer_token: ``refresh_token`` for a token. The refresh token to use
        next (WeChat's replacement, or this one) is saved unless the store holds it."""
        if self._refused is not None and self._refused[0] == refresh_token:
            error = self._refused[1]
            raise type(error)(error.errcode, error.errmsg, error.path)
        body = {"authorizer_appid": self.appid, "authorizer_refresh_token": refresh_token}
        data = self._platform._post_as_platform(
            call, AUTHORIZER_TOKEN_PATH, body, secrets=(refresh_token,), retry=False
        )
        issued = call.parsed(AuthorizerToken.from_response, data, AUTHORIZER_TOKEN_PATH)
        current = issued.authorizer_refresh_token or refresh_token
        call.keep_secret(current)  # a replacement the rest of the call may meet
        if current != stored:
            self._save(stored, current, call)
        return issued.authorizer_access_token, issued.expires_in

    def _unsaved(self, stored: Optional[str]) -> Optional[str]:
        """The refresh token that replaced ``stored`` and is not saved yet, if any."""
        rotation = self._unsaved_rotation()
        if rotation is not None and rotation.replaced == (stored or ""):
            return rotation.replacement
        return None

    def _recovered(
        self, spent: Optional[str], stored: Optional[str], call: CallContext
    ) -> Optional[str]:
        """The account's current refresh token from WeChat (see ``_recovery``), if another."""
        current = self.recovery.recover(spent, call, lambda found: self._save(stored, found, call))
        if current is not None:
            self._refused = None
        return current

    def authorized(
        self, refresh_token: str, token: str, expires_in: int, call: CallContext
    ) -> None:
        """The account (re)authorized the platform: save its refresh token, seed its token."""
        self.recovery.clear()
        self._refused = None
        self._save(self._platform._store.load(self.appid), refresh_token, call)
        self.seed(token, expires_in)

    def withdrawn(self) -> None:
        """The account withdrew its authorization (an ``unauthorized`` push): forget it."""
        self._platform._store.delete(self.appid)
        self.recovery.mark_gone(WITHDREW, self._platform._store.load(self.appid))
        self._keep(None)
        self._refused = None
        self._forget()

    def changed(self) -> None:
        """The account's grant changed (an ``authorized``/``updateauthorized`` push): drop
        its tokens, which may carry the old permissions, and forget that it was gone."""
        self.recovery.clear()
        self._refused = None
        self._forget()

    def _unsaved_rotation(self) -> Optional[_Rotation]:
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                shared = self._cache.ask("get", self._rotation_key)
                if isinstance(shared, dict):
                    replaced, replacement = shared.get("replaced"), shared.get("replacement")
                    if isinstance(replaced, str) and isinstance(replacement, str):
                        return _Rotation(replaced, replacement)
        return self._rotation

    def _save(self, stored: Optional[str], replacement: str, call: CallContext) -> None:
        """Keep ``replacement`` (of ``stored``, what the store holds) where no process can
        lose it, then save it to the store."""
        self._keep(_Rotation(stored or "", replacement))
        if self._platform._store.save(self.appid, replacement, call):
            self._keep(None)

    def _keep(self, rotation: Optional[_Rotation]) -> None:
        self._rotation = rotation
        if self._cache.present:
            value = None if rotation is None else attr.asdict(rotation)
            with contextlib.suppress(CacheDown):
                self._cache.ask("set", self._rotation_key, value, None if rotation else 1)

    def __repr__(self) -> str:
        return "<authorizer token>"
