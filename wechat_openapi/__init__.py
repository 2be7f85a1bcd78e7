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
    InvalidCredentialError,
    InvalidResponseError,
    InvalidRidError,
    NicknameAuditNotFoundError,
    OpenAccountNotBoundError,
    QuotaExceededError,
    RequestTimeoutError,
    RidExpiredError,
    RidNotFoundError,
    RidNotSupportedError,
    RidPermissionDeniedError,
    SystemBusyError,
    TransportError,
    WeChatError,
    find_rid,
)
from .models import AuditStatus, NicknameAudit, OpenAccount, RidInfo

__all__ = [
    "APIError",
    "AccessTokenError",
    "AccessTokenExpiredError",
    "AuditStatus",
    "Client",
    "InvalidAccessTokenError",
    "InvalidAppIdError",
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
    "SystemBusyError",
    "TransportError",
    "WeChatError",
    "__version__",
    "find_rid",
]
