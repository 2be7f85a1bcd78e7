"""What the platform tests share: the paths, a refresh-token store in memory, a platform on
the fake, and the list of paths the fake was asked for. The fixtures (``component``, ``shop``,
``store``) are in conftest.py."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import wechat_openapi as wo
from wechat_openapi.testing import FakeWeChat

COMPONENT_TOKEN = "/cgi-bin/component/api_component_token"
AUTHORIZER_TOKEN = "/cgi-bin/component/api_authorizer_token"
START_PUSH = "/cgi-bin/component/api_start_push_ticket"
OPEN_GET = "/cgi-bin/open/get"
COMPONENT_APPID = "wxSENTINELCOMPONENT"
COMPONENT_SECRET = "SENTINELCOMPONENTSECRET0123456789"


class Store:
    """A refresh-token store in memory, recording every save."""

    def __init__(self, tokens: Optional[Dict[str, str]] = None) -> None:
        self.tokens = dict(tokens or {})
        self.saved: List[str] = []

    def load(self, authorizer_appid: str) -> Optional[str]:
        return self.tokens.get(authorizer_appid)

    def save(self, authorizer_appid: str, refresh_token: str) -> None:
        self.tokens[authorizer_appid] = refresh_token
        self.saved.append(authorizer_appid)


def platform(fake: FakeWeChat, store: Store, **options: Any) -> wo.ComponentPlatform:
    options.setdefault("base_url", fake.url)
    return wo.ComponentPlatform(COMPONENT_APPID, COMPONENT_SECRET, refresh_tokens=store, **options)


def paths(fake: FakeWeChat) -> List[str]:
    return [request.path for request in fake.requests]
