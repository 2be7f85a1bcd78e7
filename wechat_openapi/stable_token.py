"""Access tokens from WeChat's stable_token endpoint: cached, single-flight, shareable.

In normal mode stable_token returns the token that is live (within its last 5 minutes WeChat
issues the next one); ``force_refresh`` rotates at once, the old token working 5 more
minutes, and is rate-limited. So the provider fetches in normal mode and caches the token
until ``expires_in`` minus a margin. After WeChat refused a token it asks in normal mode
again, and forces a refresh only if that answer is the refused token itself (one at a time,
and none for a while after one that was abandoned). Sharing between threads and processes,
and those rules, are :class:`SharedToken`'s.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional, Tuple

from ._settings import required_text
from ._shared_cache import DEFAULT_MARGIN, SharedCache, SharedToken, account_key
from .errors import STABLE_TOKEN_PATH
from .models import StableToken
from .tokens import CallContext

__all__ = ["SharedCache", "StableTokenProvider"]


class StableTokenProvider(SharedToken):
    """A TokenProvider backed by ``POST /cgi-bin/stable_token``.

    ``margin``: seconds before ``expires_in`` runs out when the token is fetched again (at
    least half its lifetime is used). ``cache``: a Django-style cache shared by processes.
    The fetch uses the transport, timeouts and deadline of the call it serves. The appid and
    secret appear in no repr, message or log record.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        cache: Optional[SharedCache] = None,
        margin: float = DEFAULT_MARGIN,
        key_prefix: str = "wechat_openapi",
        clock: Callable[[], float] = time.time,
    ) -> None:
        required_text("appid", appid)
        required_text("secret", secret)
        super().__init__(
            cache=cache,
            key=account_key(key_prefix, "stable_token", appid),
            label="stable_token",
            margin=margin,
            clock=clock,
        )
        self._appid = appid
        self._secret = secret

    @property
    def appid(self) -> str:
        """The account whose tokens these are (not shown in the repr)."""
        return self._appid

    def __repr__(self) -> str:
        return f"<StableTokenProvider appid=<hidden> cache={self._cache!r}>"

    can_force = True

    def _fetch(self, force: bool, call: CallContext) -> Tuple[str, int]:
        """Ask WeChat: normal mode, or force_refresh to replace a refused token that normal
        mode still hands out (not retried blindly: each counts against a daily limit)."""
        body: Dict[str, Any] = {
            "grant_type": "client_credential",
            "appid": self._appid,
            "secret": self._secret,
        }
        if force:
            body["force_refresh"] = True
        secrets = (self._secret, self._appid)
        data = call.post(STABLE_TOKEN_PATH, body, secrets=secrets, retry=not force)
        issued = call.parsed(StableToken.from_response, data, STABLE_TOKEN_PATH)
        return issued.access_token, issued.expires_in
