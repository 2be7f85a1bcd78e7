"""An offline fake of WeChat's OpenAPI, for your tests and ours.

``FakeWeChat`` serves its endpoints on 127.0.0.1 with WeChat's documented rules and errors,
driven by data you seed: rid/get, open/get, querynickname, stable_token, the quota APIs, and
a third-party platform's (``Component``): tickets, component and authorizer tokens,
pre-authorization and authorization codes, the authorizers' details and list, and quota
resets. ``Fault`` makes calls fail on purpose. Standard library only: it adds no dependency,
but for the pushes it builds (``FakeWeChat.ticket_push`` and the like, :func:`build_push`),
which are encrypted with ``cryptography`` (``pip install "wechat-openapi[platform]"``).
With pytest, add one line to ``conftest.py``::

    pytest_plugins = ["wechat_openapi.testing.pytest_plugin"]

and take the ``wechat_fake`` fixture.
"""

from ._component import (
    AUTHORIZATION_CODE_LIFETIME,
    PRE_AUTH_CODE_LIFETIME,
    TICKET_LIFETIME,
    AuthorizationRecord,
    Component,
)
from ._faults import Fault, FaultKind
from ._pushes import SignedPush, build_push
from ._server import MAX_LOGGED, FakeWeChat, LoggedRequest, no_backoff
from ._state import (
    RID_LIFETIME,
    TOKEN_LIFETIME,
    TOKEN_OVERLAP,
    Account,
    NicknameAuditRecord,
    RidRecord,
)

__all__ = [
    "AUTHORIZATION_CODE_LIFETIME",
    "MAX_LOGGED",
    "PRE_AUTH_CODE_LIFETIME",
    "RID_LIFETIME",
    "TICKET_LIFETIME",
    "TOKEN_LIFETIME",
    "TOKEN_OVERLAP",
    "Account",
    "AuthorizationRecord",
    "Component",
    "FakeWeChat",
    "Fault",
    "FaultKind",
    "LoggedRequest",
    "NicknameAuditRecord",
    "RidRecord",
    "SignedPush",
    "build_push",
    "no_backoff",
]
