"""The third-party platform (component) side of the fake WeChat: its records and its rules.

A platform (:class:`Component`) buys a component token with its secret and the newest ticket
WeChat pushed to it, and with that token calls every ``/cgi-bin/component/...`` endpoint:
pre-authorization codes, the exchange of an authorization code, the authorizers' details
and list, and its own quota resets. An account's consent is an :class:`AuthorizationRecord`.

:class:`ComponentState` keeps these and registers a rule per path with the core
(``FakeState.rules``), whose tokens, quotas and resets it uses: a component token is one of
the platform's own account, an authorizer token one of the authorizing account, so rid/get,
quota/get and the authorizer APIs treat them as WeChat does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import attr

from ._state import TOKEN_LIFETIME, Account, Answer, Call, FakeState, Rule, error

COMPONENT_TOKEN = "/cgi-bin/component/api_component_token"
AUTHORIZER_TOKEN = "/cgi-bin/component/api_authorizer_token"
START_PUSH_TICKET = "/cgi-bin/component/api_start_push_ticket"
CREATE_PRE_AUTH_CODE = "/cgi-bin/component/api_create_preauthcode"
QUERY_AUTH = "/cgi-bin/component/api_query_auth"
GET_AUTHORIZER_INFO = "/cgi-bin/component/api_get_authorizer_info"
GET_AUTHORIZER_LIST = "/cgi-bin/component/api_get_authorizer_list"
COMPONENT_CLEAR_QUOTA = "/cgi-bin/component/clear_quota"
COMPONENT_CLEAR_QUOTA_V2 = "/cgi-bin/component/clear_quota/v2"

TICKET_LIFETIME = 12 * 3600  # seconds a pushed component_verify_ticket is valid
PRE_AUTH_CODE_LIFETIME = 1800  # seconds, the expires_in of api_create_preauthcode
AUTHORIZATION_CODE_LIFETIME = 3600  # seconds an authorization code can be exchanged
MAX_LIST_COUNT = 500  # api_get_authorizer_list's largest page
DEFAULT_FUNC_INFO = (1, 15)  # permission sets (funcscope_category ids) an account grants

# errmsg texts of the platform's own errors, as WeChat writes them; the rest are the core's.
ERRMSG = {
    61003: "component is not authorized by this account",
    61004: "access clientip is not registered",
    61005: "component access ticket is expired",
    61006: "component access ticket is invalid",
    61009: "code is invalid",
    61010: "code is expired",
    61011: "invalid component",
    61023: "refresh_token is invalid",
}


def _error(errcode: int) -> Answer:
    if errcode in ERRMSG:
        return {"errcode": errcode, "errmsg": ERRMSG[errcode]}
    return error(errcode)


def new_encoding_aes_key() -> str:
    """An EncodingAESKey as the platform's console makes one: 43 characters whose base64
    decoding (with the ``=`` WeChat leaves off) is a 32-byte AES key."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")[:-1]


def check_encoding_aes_key(key: str) -> None:
    """ValueError unless ``key`` is a usable EncodingAESKey: a typo in a test's seed should
    fail there, not as a decryption error later."""
    try:
        decoded = base64.b64decode(key + "=", validate=True)
    except (binascii.Error, TypeError):
        decoded = b""
    if len(key) != 43 or len(decoded) != 32:
        raise ValueError("encoding_aes_key must be 43 base64 characters that decode to 32 bytes")


def _new_push_token() -> str:
    return secrets.token_urlsafe(16)


def _new_refresh_token() -> str:
    return "refreshtoken@@@" + secrets.token_urlsafe(24)


@attr.s(auto_attribs=True, eq=False)
class AuthorizationRecord:
    """An account's authorization of a platform: its current refresh token, the authorizer
    tokens issued under it (which stop working if it is revoked), the permission sets it
    granted (``func_info``; none means WeChat issues no tokens for it) and when (Unix s)."""

    account: Account
    refresh_token: str = attr.ib(repr=False)
    revoked: bool = False
    tokens: List[str] = attr.ib(factory=list, repr=False)
    func_info: Tuple[int, ...] = DEFAULT_FUNC_INFO
    auth_time: int = 0


@attr.s(auto_attribs=True, eq=False)
class Component:
    """A third-party platform: its appid and secret, the tickets WeChat pushed to it (each
    valid 12 hours), and the accounts that authorized it. Component tokens are tokens of
    ``account``, the platform's own, so rid/get works with them; on the authorizer APIs
    (open/get, querynickname) they get 48001. With ``rotate_refresh_tokens``, every
    api_authorizer_token call returns a new refresh token and the old one stops working.

    ``push_token`` and ``encoding_aes_key`` sign and encrypt WeChat's pushes to the platform.
    ``list_page_cap`` makes api_get_authorizer_list return at most that many accounts a page,
    however many were asked for, as WeChat sometimes does. ``pre_auth_codes`` and ``codes``
    hold the pre-authorization and authorization codes issued, with when they expire.
    """

    appid: str
    secret: str = attr.ib(repr=False)
    account: Account
    rotate_refresh_tokens: bool = False
    push_token: str = attr.ib(factory=_new_push_token, repr=False)
    encoding_aes_key: str = attr.ib(factory=new_encoding_aes_key, repr=False)
    list_page_cap: Optional[int] = None
    tickets: Dict[str, float] = attr.ib(factory=dict, repr=False)
    authorizations: Dict[str, AuthorizationRecord] = attr.ib(factory=dict, repr=False)
    pre_auth_codes: Dict[str, float] = attr.ib(factory=dict, repr=False)
    codes: Dict[str, Tuple[AuthorizationRecord, float]] = attr.ib(factory=dict, repr=False)


def authorizer_info(account: Account) -> Dict[str, Any]:
    """What api_get_authorizer_info says of ``account``: generated from its appid (stable
    across calls), then its ``profile`` by field name."""
    digest = hashlib.sha256(account.appid.encode("utf-8")).hexdigest()
    info: Dict[str, Any] = {
        "nick_name": f"Fake {account.appid}",
        "head_img": f"http://wx.qlogo.cn/mmopen/{digest[:32]}/0",
        "service_type_info": {"id": 0 if account.mini_program else 2},
        "verify_type_info": {"id": 0},
        "user_name": "gh_" + digest[:12],
        "principal_name": "Fake Principal Co., Ltd.",
        "alias": "",
        "qrcode_url": f"http://mmbiz.qpic.cn/mmbiz_jpg/{digest[32:]}/0",
        "business_info": {
            "open_pay": 0,
            "open_shake": 0,
            "open_scan": 0,
            "open_card": 0,
            "open_store": 0,
        },
        "signature": "",
    }
    if account.mini_program:
        info["MiniProgramInfo"] = {
            "network": {
                "RequestDomain": [],
                "WsRequestDomain": [],
                "UploadDomain": [],
                "DownloadDomain": [],
                "BizDomain": [],
                "UDPDomain": [],
            },
            "categories": [{"first": "Tools", "second": "Information"}],
            "visit_status": 0,
        }
    info.update(account.profile)
    return info


def _func_info(ids: Sequence[int]) -> List[Dict[str, Any]]:
    return [{"funcscope_category": {"id": category}} for category in ids]


def _text(body: Dict[str, Any], name: str) -> str:
    """A body's field if it is a string, else "" (a list is no appid, and no dict key)."""
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _count(value: object) -> Optional[int]:
    """A JSON integer, not a bool."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


ComponentRule = Callable[["Component", Dict[str, Any]], Answer]


class ComponentState:
    """The platforms the fake knows and the rules of their endpoints, registered with the
    core on construction. Seeding methods are safe to call from many threads."""

    def __init__(self, core: FakeState) -> None:
        self.core = core
        self.components: Dict[str, Component] = {}
        self._by_token: Dict[str, Component] = {}  # component token -> its platform
        core.rules[COMPONENT_TOKEN] = self._component_token
        core.rules[START_PUSH_TICKET] = self._start_push_ticket
        core.rules[COMPONENT_CLEAR_QUOTA_V2] = self._clear_quota_v2
        with_token: Dict[str, Tuple[ComponentRule, bool]] = {
            AUTHORIZER_TOKEN: (self._authorizer_token, True),
            CREATE_PRE_AUTH_CODE: (self._create_pre_auth_code, True),
            QUERY_AUTH: (self._query_auth, True),
            GET_AUTHORIZER_INFO: (self._get_authorizer_info, True),
            GET_AUTHORIZER_LIST: (self._get_authorizer_list, True),
            COMPONENT_CLEAR_QUOTA: (self._clear_quota, False),
        }
        for path, (rule, counted) in with_token.items():
            core.rules[path] = self._with_component_token(rule, counted)

    # Seeding ---------------------------------------------------------------------------

    def add_component(
        self,
        appid: str,
        secret: Optional[str],
        rotate_refresh_tokens: bool,
        push_token: Optional[str] = None,
        encoding_aes_key: Optional[str] = None,
        list_page_cap: Optional[int] = None,
    ) -> Component:
        if list_page_cap is not None and list_page_cap < 1:
            raise ValueError("list_page_cap must be at least 1")
        if encoding_aes_key is not None:
            check_encoding_aes_key(encoding_aes_key)
        with self.core.lock:
            if appid in self.components:  # two would share one appid, and one token table
                raise ValueError(f"component {appid!r} exists already")
            component = Component(
                appid=appid,
                secret=secret or secrets.token_hex(16),
                account=self.core.add_account(appid, None, None, None),
                rotate_refresh_tokens=rotate_refresh_tokens,
                push_token=push_token or _new_push_token(),
                encoding_aes_key=encoding_aes_key or new_encoding_aes_key(),
                list_page_cap=list_page_cap,
            )
            self.components[appid] = component
            return component

    def issue_ticket(self, component: Component) -> str:
        with self.core.lock:
            ticket = "ticket@@@" + secrets.token_urlsafe(32)
            component.tickets[ticket] = self.core.clock() + TICKET_LIFETIME
            return ticket

    def issue_pre_auth_code(self, component: Component) -> str:
        """A pre-authorization code, valid PRE_AUTH_CODE_LIFETIME seconds (expired ones are
        forgotten here, so a long-running fake stays small)."""
        with self.core.lock:
            now = self.core.clock()
            for code, expires in list(component.pre_auth_codes.items()):
                if expires <= now:
                    del component.pre_auth_codes[code]
            code = "preauthcode@@@" + secrets.token_urlsafe(32)
            component.pre_auth_codes[code] = now + PRE_AUTH_CODE_LIFETIME
            return code

    def authorize(
        self, component: Component, account: Account, func_info: Sequence[int] = DEFAULT_FUNC_INFO
    ) -> AuthorizationRecord:
        """``account`` authorizes ``component`` (again): a new refresh token ("" with no
        permission set, for which WeChat issues none), not revoked. The tokens of a revoked
        authorization stay dead; those of a live one keep working."""
        with self.core.lock:
            record = component.authorizations.get(account.appid)
            if record is None:
                record = AuthorizationRecord(account, "")
                component.authorizations[account.appid] = record
            elif record.revoked:
                record.tokens.clear()
            record.revoked = False
            record.func_info = tuple(func_info)
            record.refresh_token = _new_refresh_token() if record.func_info else ""
            record.auth_time = int(self.core.clock())
            return record

    def issue_code(
        self,
        component: Component,
        account: Account,
        func_info: Sequence[int] = DEFAULT_FUNC_INFO,
        expires_in: float = AUTHORIZATION_CODE_LIFETIME,
    ) -> Tuple[str, float]:
        """``account`` authorizes ``component``; the authorization code WeChat hands the
        platform for api_query_auth, and when it expires (Unix s)."""
        with self.core.lock:
            record = self.authorize(component, account, func_info)
            now = self.core.clock()
            for code, (_, expires) in list(component.codes.items()):
                if expires <= now:
                    del component.codes[code]
            code = "queryauthcode@@@" + secrets.token_urlsafe(32)
            component.codes[code] = (record, now + expires_in)
            return code, now + expires_in

    def expire_authorizer_tokens(self, component: Component, account: Account) -> None:
        self.core.expire_tokens(component.authorizations[account.appid].tokens)

    def revoke(self, component: Component, account: Account) -> None:
        with self.core.lock:
            authorization = component.authorizations[account.appid]
            authorization.revoked = True
            self.core.forget_tokens(authorization.tokens)

    # Rules without a component token ----------------------------------------------------

    def _component_token(self, call: Call, body: object) -> Tuple[Optional[Account], Answer]:
        """The secret and a live ticket buy a component token; each fetch counts against the
        platform's own quota for this path."""
        given = body if isinstance(body, dict) else {}
        component = self._by_secret(given, "component_appsecret")
        if not isinstance(component, Component):
            return component  # refused
        refused = self.core.spend(component.account, COMPONENT_TOKEN)
        if refused is not None:
            return component.account, refused
        expires = component.tickets.get(_text(given, "component_verify_ticket"))
        if expires is None:
            return component.account, _error(61006)
        if self.core.clock() >= expires:
            return component.account, _error(61005)
        token = self.core.issue_token(component.account, platform=True)
        self._by_token[token] = component
        return component.account, {"component_access_token": token, "expires_in": TOKEN_LIFETIME}

    def _start_push_ticket(self, call: Call, body: object) -> Tuple[Optional[Account], Answer]:
        """The secret alone asks WeChat to push a ticket now."""
        given = body if isinstance(body, dict) else {}
        component = self._by_secret(given, "component_secret")
        if not isinstance(component, Component):
            return component  # refused
        return component.account, {"errcode": 0, "errmsg": "ok"}

    def _clear_quota_v2(self, call: Call, body: object) -> Tuple[Optional[Account], Answer]:
        """The platform's secret instead of a token resets the platform's quotas, or those
        of an account that authorized it (``appid``), from the same 10 a month."""
        given = body if isinstance(body, dict) else {}
        if not _text(given, "component_appid"):
            return None, _error(41002)
        if not _text(given, "appsecret"):
            return None, _error(41004)
        component = self._by_secret(given, "appsecret")
        if not isinstance(component, Component):
            return component  # refused
        target = component.account
        if "appid" in given:
            record = component.authorizations.get(_text(given, "appid"))
            if record is None or record.revoked:
                return component.account, _error(40013)
            target = record.account
        return component.account, self.core.reset_quota(target)

    def _by_secret(
        self, given: Dict[str, Any], secret_field: str
    ) -> Union[Component, Tuple[Optional[Account], Answer]]:
        """The component ``given`` names if ``secret_field`` holds its secret; else the
        refusal: 61011 for no such component, 40125 for a wrong secret."""
        component = self.components.get(_text(given, "component_appid"))
        if component is None:
            return None, _error(61011)
        if given.get(secret_field) != component.secret:
            return component.account, _error(40125)
        return component

    # Rules with a component token --------------------------------------------------------

    def _with_component_token(self, rule: ComponentRule, counted: bool) -> Rule:
        """``rule`` behind the checks every component-token endpoint makes: a live component
        token (40001, 42001), a JSON object (47001), its own component_appid (61011) and, if
        ``counted``, a call left in the platform's quota for the path (45009)."""

        def checked(call: Call, body: object) -> Tuple[Optional[Account], Answer]:
            component = self._by_token.get(call.token)
            if component is None:
                return None, _error(40001)
            _, refused = self.core.holder(call.token)
            if refused is not None:
                return component.account, refused
            if not isinstance(body, dict):
                return component.account, _error(47001)
            if _text(body, "component_appid") != component.appid:
                return component.account, _error(61011)
            refused = self.core.spend(component.account, call.path) if counted else None
            return component.account, refused or rule(component, body)

        return checked

    def _authorizer_token(self, component: Component, body: Dict[str, Any]) -> Answer:
        """The account's current refresh token buys an authorizer token (and, when the
        component rotates them, a new refresh token)."""
        authorization = component.authorizations.get(_text(body, "authorizer_appid"))
        if authorization is None:
            return _error(61003)
        if (
            authorization.revoked
            or not authorization.refresh_token
            or _text(body, "authorizer_refresh_token") != authorization.refresh_token
        ):
            return _error(61023)
        token = self._new_authorizer_token(authorization)
        if component.rotate_refresh_tokens:
            authorization.refresh_token = _new_refresh_token()
        return {
            "authorizer_access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "authorizer_refresh_token": authorization.refresh_token,
        }

    def _new_authorizer_token(self, authorization: AuthorizationRecord) -> str:
        token = self.core.issue_token(authorization.account)
        authorization.tokens.append(token)
        return token

    def _create_pre_auth_code(self, component: Component, body: Dict[str, Any]) -> Answer:
        code = self.issue_pre_auth_code(component)
        return {"pre_auth_code": code, "expires_in": PRE_AUTH_CODE_LIFETIME}

    def _query_auth(self, component: Component, body: Dict[str, Any]) -> Answer:
        """An authorization code, once and within its hour, buys the account's tokens; with
        no permission set granted, WeChat leaves the tokens and expires_in out."""
        code = _text(body, "authorization_code")
        issued = component.codes.get(code)
        if issued is None:
            return _error(61009)
        authorization, expires = issued
        if self.core.clock() >= expires:
            return _error(61010)
        del component.codes[code]
        if authorization.revoked:  # revoked after the code was issued
            return _error(61009)
        info: Dict[str, Any] = {"authorizer_appid": authorization.account.appid}
        if authorization.func_info:
            info["authorizer_access_token"] = self._new_authorizer_token(authorization)
            info["expires_in"] = TOKEN_LIFETIME
            info["authorizer_refresh_token"] = authorization.refresh_token
        info["func_info"] = _func_info(authorization.func_info)
        return {"authorization_info": info}

    def _get_authorizer_info(self, component: Component, body: Dict[str, Any]) -> Answer:
        authorization = component.authorizations.get(_text(body, "authorizer_appid"))
        if authorization is None or authorization.revoked:
            return _error(61003)
        return {
            "authorizer_info": authorizer_info(authorization.account),
            "authorization_info": {
                "authorizer_appid": authorization.account.appid,
                "authorizer_refresh_token": authorization.refresh_token,
                "func_info": _func_info(authorization.func_info),
            },
        }

    def _get_authorizer_list(self, component: Component, body: Dict[str, Any]) -> Answer:
        """A page of the live authorizations, in the order they were first made; a short
        one if the component has a ``list_page_cap``."""
        offset, count = _count(body.get("offset")), _count(body.get("count"))
        if offset is None or offset < 0 or count is None or not 1 <= count <= MAX_LIST_COUNT:
            return _error(40097)
        live = [record for record in component.authorizations.values() if not record.revoked]
        page = live[offset : offset + min(count, component.list_page_cap or count)]
        return {
            "errcode": 0,
            "errmsg": "ok",
            "total_count": len(live),
            "list": [
                {
                    "authorizer_appid": record.account.appid,
                    "refresh_token": record.refresh_token,
                    "auth_time": record.auth_time,
                }
                for record in page
            ],
        }

    def _clear_quota(self, component: Component, body: Dict[str, Any]) -> Answer:
        return self.core.reset_quota(component.account)
