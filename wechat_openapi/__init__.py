"""A small, typed, synchronous client for three WeChat OpenAPI endpoints.

rid debugging (``/cgi-bin/openapi/rid/get``), the bound open-platform account
(``/cgi-bin/open/get``) and the Mini Program nickname audit
(``/wxa/api_wxa_querynickname``). Start with :class:`Client`.
"""

from typing import TYPE_CHECKING, Any, List

from ._version import __version__
from .client import Client
from .errors import (
    AccessTokenError,
    AccessTokenExpiredError,
    AccessTokenMissingError,
    APIError,
    APIUnauthorizedError,
    AppIdMissingError,
    AppSecretMissingError,
    AuthorizationCodeExpiredError,
    AuthorizationCodeInvalidError,
    AuthorizationRevokedError,
    ClearQuotaLimitError,
    ComponentAPIUnauthorizedError,
    ComponentError,
    ComponentIPNotWhitelistedError,
    ComponentNotAuthorizedError,
    ComponentQuotaExceededError,
    ComponentTokenNotAllowedError,
    ComponentTokenRequiredError,
    InvalidAccessTokenError,
    InvalidAppIdError,
    InvalidAppSecretError,
    InvalidComponentError,
    InvalidComponentSecretError,
    InvalidCredentialError,
    InvalidResponseError,
    InvalidRidError,
    IPConfirmationError,
    IPConfirmationPendingError,
    IPNeedsConfirmationError,
    IPNotWhitelistedError,
    IPRefusedError,
    IPRefusedTwiceError,
    MinuteQuotaExceededError,
    MissingDependencyError,
    NicknameAuditNotFoundError,
    OpenAccountNotBoundError,
    PushVerificationError,
    QuotaExceededError,
    QuotaNotQueryableError,
    QuotaPathMalformedError,
    QuotaPathNotFoundError,
    RefreshTokenInvalidError,
    RequestTimeoutError,
    RidExpiredError,
    RidNotFoundError,
    RidNotSupportedError,
    RidPermissionDeniedError,
    StableTokenBusyError,
    StableTokenComponentAppIdError,
    StableTokenError,
    StableTokenInvalidAppIdError,
    StableTokenIPNotWhitelistedError,
    StableTokenQuotaExceededError,
    SystemBusyError,
    TokenUnavailableError,
    TransportError,
    VerifyTicketExpiredError,
    VerifyTicketInvalidError,
    WeChatError,
    find_rid,
)
from .tokens import CallContext, TokenProvider

if TYPE_CHECKING:  # loaded on first use (see __getattr__)
    from .models import (
        ApiQuota,
        AuditStatus,
        AuthorizerToken,
        ComponentToken,
        NicknameAudit,
        OpenAccount,
        RateLimit,
        RidInfo,
        StableToken,
    )
    from .platform import (
        Authorization,
        AuthorizerInfo,
        AuthorizerListing,
        ComponentPlatform,
        Push,
        PushFields,
        RefreshTokenStore,
    )
    from .stable_token import SharedCache, StableTokenProvider

# The public names whose modules load on first use, by module: a cron script holding a fixed
# token pays neither for the third-party platform, stable_token and the shared cache, nor (until
# its first call) for attrs and the models.
_LAZY = {
    "ApiQuota": ".models",
    "AuditStatus": ".models",
    "AuthorizerToken": ".models",
    "ComponentToken": ".models",
    "NicknameAudit": ".models",
    "OpenAccount": ".models",
    "RateLimit": ".models",
    "RidInfo": ".models",
    "StableToken": ".models",
    "Authorization": ".platform",
    "AuthorizerInfo": ".platform",
    "AuthorizerListing": ".platform",
    "ComponentPlatform": ".platform",
    "Push": ".platform",
    "PushFields": ".platform",
    "RefreshTokenStore": ".platform",
    "SharedCache": ".stable_token",
    "StableTokenProvider": ".stable_token",
}

__all__ = [
    "APIError",
    "APIUnauthorizedError",
    "AccessTokenError",
    "AccessTokenExpiredError",
    "AccessTokenMissingError",
    "ApiQuota",
    "AppIdMissingError",
    "AppSecretMissingError",
    "AuditStatus",
    "Authorization",
    "AuthorizationCodeExpiredError",
    "AuthorizationCodeInvalidError",
    "AuthorizationRevokedError",
    "AuthorizerInfo",
    "AuthorizerListing",
    "AuthorizerToken",
    "CallContext",
    "ClearQuotaLimitError",
    "Client",
    "ComponentAPIUnauthorizedError",
    "ComponentError",
    "ComponentIPNotWhitelistedError",
    "ComponentNotAuthorizedError",
    "ComponentPlatform",
    "ComponentQuotaExceededError",
    "ComponentToken",
    "ComponentTokenNotAllowedError",
    "ComponentTokenRequiredError",
    "IPConfirmationError",
    "IPConfirmationPendingError",
    "IPNeedsConfirmationError",
    "IPNotWhitelistedError",
    "IPRefusedError",
    "IPRefusedTwiceError",
    "InvalidAccessTokenError",
    "InvalidAppIdError",
    "InvalidAppSecretError",
    "InvalidComponentError",
    "InvalidComponentSecretError",
    "InvalidCredentialError",
    "InvalidResponseError",
    "InvalidRidError",
    "MinuteQuotaExceededError",
    "MissingDependencyError",
    "NicknameAudit",
    "NicknameAuditNotFoundError",
    "OpenAccount",
    "OpenAccountNotBoundError",
    "Push",
    "PushFields",
    "PushVerificationError",
    "QuotaExceededError",
    "QuotaNotQueryableError",
    "QuotaPathMalformedError",
    "QuotaPathNotFoundError",
    "RateLimit",
    "RefreshTokenInvalidError",
    "RefreshTokenStore",
    "RequestTimeoutError",
    "RidExpiredError",
    "RidInfo",
    "RidNotFoundError",
    "RidNotSupportedError",
    "RidPermissionDeniedError",
    "SharedCache",
    "StableToken",
    "StableTokenBusyError",
    "StableTokenComponentAppIdError",
    "StableTokenError",
    "StableTokenIPNotWhitelistedError",
    "StableTokenInvalidAppIdError",
    "StableTokenProvider",
    "StableTokenQuotaExceededError",
    "SystemBusyError",
    "TokenProvider",
    "TokenUnavailableError",
    "TransportError",
    "VerifyTicketExpiredError",
    "VerifyTicketInvalidError",
    "WeChatError",
    "__version__",
    "find_rid",
]


if not TYPE_CHECKING:  # hidden from type checkers, which would take any name as Any

    def __getattr__(name: str) -> Any:
        """A lazily loaded public name (PEP 562), imported on first use and then kept."""
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(module, __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> List[str]:
        return sorted(set(globals()) | set(__all__))
