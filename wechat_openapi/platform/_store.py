"""The platform's durable state: each account's refresh token, in your database."""

from __future__ import annotations

from typing import Optional, Protocol


class RefreshTokenStore(Protocol):
    """Where the platform keeps each account's ``authorizer_refresh_token``: your database.

    ``load`` returns None for an account with none (it has not authorized the platform).
    ``save`` is called with every refresh token WeChat returns. If it raises, the call goes
    on: the new refresh token is kept (in memory and the shared cache), used instead of the
    stored one, and saved again at the account's next token fetch; a WARNING says so.
    """

    def load(self, authorizer_appid: str) -> Optional[str]: ...

    def save(self, authorizer_appid: str, refresh_token: str) -> None: ...
