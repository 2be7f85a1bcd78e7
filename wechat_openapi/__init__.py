"""A small, typed, synchronous client for three WeChat OpenAPI endpoints.

rid debugging (``/cgi-bin/openapi/rid/get``), the bound open-platform account
(``/cgi-bin/open/get``) and the Mini Program nickname audit
(``/wxa/api_wxa_querynickname``). Start with :class:`Client`.
"""

from ._version import __version__
from .client import Client
from .errors import (
    AccessTokenError,
    AccessTokenExpiredError,
    APIError,
    InvalidAccessTokenError,
    InvalidAppIdError,
    InvalidAppSecretError,
    InvalidCredentialError,
    InvalidResponseError,
    InvalidRidError,
    IPNotWhitelistedError,
    NicknameAuditNotFoundError,
    OpenAccountNotBoundError,
    QuotaExceededError,
    RequestTimeoutError,
    RidExpiredError,
    RidNotFoundError,
    RidNotSupportedError,
    RidPermissionDeniedError,
    StableTokenBusyError,
    StableTokenError,
    StableTokenInvalidAppIdError,
    StableTokenQuotaExceededError,
    SystemBusyError,
    TokenUnavailableError,
    TransportError,
    WeChatError,
    find_rid,
)
from .models import AuditStatus, NicknameAudit, OpenAccount, RidInfo, StableToken
from .stable_token import SharedCache, StableTokenProvider
from .tokens import CallContext, TokenProvider

__all__ = [
    "APIError",
    "AccessTokenError",
    "AccessTokenExpiredError",
    "AuditStatus",
    "CallContext",
    "Client",
    "IPNotWhitelistedError",
    "InvalidAccessTokenError",
    "InvalidAppIdError",
    "InvalidAppSecretError",
    "InvalidCredentialError",
    "InvalidResponseError",
    "InvalidRidError",
    "NicknameAudit",
    "NicknameAuditNotFoundError",
    "OpenAccount",
    "OpenAccountNotBoundError",
    "QuotaExceededError",
    "RequestTimeoutError",
    "RidExpiredError",
    "RidInfo",
    "RidNotFoundError",
    "RidNotSupportedError",
    "RidPermissionDeniedError",
    "SharedCache",
    "StableToken",
    "StableTokenBusyError",
    "StableTokenError",
    "StableTokenInvalidAppIdError",
    "StableTokenProvider",
    "StableTokenQuotaExceededError",
    "SystemBusyError",
    "TokenProvider",
    "TokenUnavailableError",
    "TransportError",
    "WeChatError",
    "__version__",
    "find_rid",
]
