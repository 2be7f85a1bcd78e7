"""Third-party platforms (服务商): the token chain, WeChat's pushes, and the accounts that
authorized the platform.

- ``_platform``: :class:`ComponentPlatform`, the one object a platform builds;
- ``_tokens``: the verify ticket, the component token, each account's authorizer token;
- ``_store``: the durable state (refresh tokens, the ticket) in the user's database.
"""

from ._platform import ComponentPlatform
from ._store import RefreshTokenStore

__all__ = ["ComponentPlatform", "RefreshTokenStore"]
