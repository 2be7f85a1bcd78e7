"""Third-party platforms (服务商): the token chain, WeChat's pushes, and the accounts that
authorized the platform. One module per concern:

- ``_platform``: :class:`ComponentPlatform`, the one object a platform builds;
- ``_ticket``: the component_verify_ticket, kept in memory, the cache and the store;
- ``_tokens``: the component token and each account's authorizer token;
- ``_push``: a push's XML, checked and parsed into a :class:`Push`; ``_crypto``: its
  signature check and AES decryption;
- ``_accounts``: onboarding (authorization URL, completing it), account info, the list;
- ``_recovery``: finding a lost or refused refresh token again; accounts that are gone;
- ``_store``: the durable state (refresh tokens, the ticket) in the user's database;
- ``_models``: what the account endpoints answer.
"""

from ._models import Authorization, AuthorizerInfo, AuthorizerListing
from ._platform import ComponentPlatform
from ._push import Push, PushFields
from ._store import RefreshTokenStore

__all__ = [
    "Authorization",
    "AuthorizerInfo",
    "AuthorizerListing",
    "ComponentPlatform",
    "Push",
    "PushFields",
    "RefreshTokenStore",
]
