"""What the fake WeChat knows (accounts, rids, audits) and the documented rules it answers by.

This module knows nothing of HTTP: it takes a call (path, token, body) and returns WeChat's
answer as a dict. Every error answer gets a rid appended to its errmsg, and the call is
recorded under that rid, so ``rid/get`` can show it afterwards, as WeChat does.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs

import attr

RID_GET = "/cgi-bin/openapi/rid/get"
OPEN_GET = "/cgi-bin/open/get"
QUERY_NICKNAME = "/wxa/api_wxa_querynickname"
STABLE_TOKEN = "/cgi-bin/stable_token"
COMPONENT_TOKEN = "/cgi-bin/component/api_component_token"
AUTHORIZER_TOKEN = "/cgi-bin/component/api_authorizer_token"
START_PUSH_TICKET = "/cgi-bin/component/api_start_push_ticket"
QUOTA_GET = "/cgi-bin/openapi/quota/get"
CLEAR_QUOTA = "/cgi-bin/clear_quota"
CLEAR_QUOTA_V2 = "/cgi-bin/clear_quota/v2"

RID_LIFETIME = 7 * 24 * 3600  # seconds: rid/get only knows the last 7 days
TOKEN_LIFETIME = 7200  # seconds, the expires_in of a newly issued token
TOKEN_OVERLAP = 300  # seconds a token keeps working after its replacement is issued
TICKET_LIFETIME = 12 * 3600  # seconds a pushed component_verify_ticket is valid
DEFAULT_DAILY_LIMIT = 10_000_000  # an API's daily quota unless a test seeds another
RESETS_PER_MONTH = 10  # clear_quota and clear_quota/v2 share them
_CGI_PATH = re.compile(r"/[A-Za-z0-9_./-]+")
_RID_SHAPE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}")

Answer = Dict[str, Any]

# errmsg texts as WeChat writes them.
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40013: "invalid appid",
    42001: "access_token expired",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    45009: "reach max api daily quota limit",
    47001: "data format error",
    41002: "appid missing",
    41004: "appsecret missing",
    48001: "api unauthorized",
    48006: "forbid to clear quota because of reaching the limit",
    76021: "cgi_path not found, please check",
    61003: "component is not authorized by this account",
    61004: "access clientip is not registered",
    61005: "component access ticket is expired",
    61006: "component access ticket is invalid",
    61011: "invalid component",
    61023: "refresh_token is invalid",
    76001: "rid not found",
    76002: "rid is error",
    76003: "could not query this rid,no permission",
    76004: "rid time is error",
    76022: "could not query this rid,rid of /sns/ api is not supported",
    89002: "open not exists",
    91011: "Can not find the nickname change audit sheet information",
}


@attr.s(auto_attribs=True, eq=False)
class Account:
    """An Official Account or Mini Program: its appid, current token, bound open appid and
    AppSecret (for stable_token).

    ``token`` changes when a new one is issued; compare accounts by identity.
    """

    appid: str
    token: str = attr.ib(repr=False)
    open_appid: Optional[str] = None
    secret: str = attr.ib(default="", repr=False)


@attr.s(auto_attribs=True, eq=False)
class AuthorizationRecord:
    """An account's authorization of a platform: its current refresh token, and the
    authorizer tokens issued under it (which stop working if it is revoked)."""

    account: Account
    refresh_token: str = attr.ib(repr=False)
    revoked: bool = False
    tokens: List[str] = attr.ib(factory=list, repr=False)


@attr.s(auto_attribs=True, eq=False)
class Component:
    """A third-party platform: its appid and secret, the tickets WeChat pushed to it (each
    valid 12 hours), and the accounts that authorized it. Component tokens are tokens of
    ``account``, the platform's own, so rid/get works with them; on the authorizer APIs
    (open/get, querynickname) they get 48001. With ``rotate_refresh_tokens``, every
    api_authorizer_token call returns a new refresh token and the old one stops working."""

    appid: str
    secret: str = attr.ib(repr=False)
    account: Account
    rotate_refresh_tokens: bool = False
    tickets: Dict[str, float] = attr.ib(factory=dict, repr=False)
    authorizations: Dict[str, AuthorizationRecord] = attr.ib(factory=dict, repr=False)


@attr.s(auto_attribs=True, frozen=True)
class RidRecord:
    """One call as WeChat keeps it for rid/get. ``request_url`` holds the caller's token."""

    rid: str
    owner: Optional[Account]
    path: str
    invoke_time: int
    cost_in_ms: int
    request_url: str = attr.ib(repr=False)
    request_body: str
    response_body: str
    client_ip: str


@attr.s(auto_attribs=True, frozen=True)
class NicknameAuditRecord:
    """A nickname change audit, as returned by api_wxa_querynickname."""

    audit_id: int
    owner: Account
    nickname: str
    audit_stat: int
    fail_reason: str
    create_time: int
    audit_time: int


@attr.s(auto_attribs=True, frozen=True)
class Call:
    """A call as the server received it, before it is answered."""

    path: str
    query: str
    token: str
    body: bytes
    client_ip: str
    started: float


def _error(errcode: int) -> Answer:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}


class FakeState:
    """The fake's data and rules; every method is safe to call from many threads."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        # token -> (account, Unix time it stops working, or None for never)
        self._tokens: Dict[str, Tuple[Account, Optional[float]]] = {}
        self.accounts: List[Account] = []
        self.rids: Dict[str, RidRecord] = {}
        self.audits: Dict[int, NicknameAuditRecord] = {}
        self._next_audit_id = 1000
        self.components: Dict[str, Component] = {}
        # (appid, cgi_path) -> [daily_limit, used today, rate_limit or None]
        self.quotas: Dict[Tuple[str, str], List[Any]] = {}
        self.resets: Dict[str, List[Tuple[int, int]]] = {}  # appid -> (year, month) of each
        self._component_tokens: Dict[str, Component] = {}

    def new_token(self) -> str:
        return "FAKE_" + secrets.token_urlsafe(24)

    def new_rid(self) -> str:
        """A rid shaped like WeChat's: the hex Unix time, then two random hex words."""
        return f"{int(self.clock()) & 0xFFFFFFFF:08x}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"

    def add_account(
        self, appid: str, token: Optional[str], open_appid: Optional[str], secret: Optional[str]
    ) -> Account:
        with self._lock:
            account = Account(
                appid=appid,
                token=token or self.new_token(),
                open_appid=open_appid,
                secret=secret or secrets.token_hex(16),
            )
            self._tokens[account.token] = (account, None)
            self.accounts.append(account)
            return account

    def rotate_token(self, account: Account, overlap: float = 0.0) -> str:
        """Issue a new token; the old one works ``overlap`` more seconds, then answers 42001."""
        with self._lock:
            now = self.clock()
            old_end = self._tokens[account.token][1]
            self._tokens[account.token] = (account, min(old_end or now + overlap, now + overlap))
            account.token = self.new_token()
            self._tokens[account.token] = (account, now + TOKEN_LIFETIME)
            return account.token

    def add_component(
        self, appid: str, secret: Optional[str], rotate_refresh_tokens: bool
    ) -> Component:
        with self._lock:
            component = Component(
                appid=appid,
                secret=secret or secrets.token_hex(16),
                account=self.add_account(appid, None, None, None),
                rotate_refresh_tokens=rotate_refresh_tokens,
            )
            self.components[appid] = component
            return component

    def issue_ticket(self, component: Component) -> str:
        with self._lock:
            ticket = "ticket@@@" + secrets.token_urlsafe(32)
            component.tickets[ticket] = self.clock() + TICKET_LIFETIME
            return ticket

    def authorize(self, component: Component, account: Account) -> str:
        with self._lock:
            refresh_token = "refreshtoken@@@" + secrets.token_urlsafe(24)
            component.authorizations[account.appid] = AuthorizationRecord(account, refresh_token)
            return refresh_token

    def expire_authorizer_tokens(self, component: Component, account: Account) -> None:
        with self._lock:
            now = self.clock()
            for token in component.authorizations[account.appid].tokens:
                if token in self._tokens:
                    self._tokens[token] = (account, now)

    def revoke(self, component: Component, account: Account) -> None:
        with self._lock:
            authorization = component.authorizations[account.appid]
            authorization.revoked = True
            for token in authorization.tokens:
                self._tokens.pop(token, None)

    def set_quota(
        self,
        account: Account,
        cgi_path: str,
        daily_limit: int,
        used: int,
        rate_limit: Optional[Tuple[int, int]],
    ) -> None:
        with self._lock:
            self.quotas[(account.appid, cgi_path)] = [daily_limit, used, rate_limit]

    def _quota(self, account: Account, cgi_path: str) -> List[Any]:
        return self.quotas.setdefault((account.appid, cgi_path), [DEFAULT_DAILY_LIMIT, 0, None])

    def add_rid(self, record: RidRecord) -> str:
        with self._lock:
            self.rids[record.rid] = record
            return record.rid

    def add_audit(self, owner: Account, audit_id: Optional[int], **fields: Any) -> int:
        with self._lock:
            if audit_id is None:
                self._next_audit_id += 1
                audit_id = self._next_audit_id
            self.audits[audit_id] = NicknameAuditRecord(audit_id=audit_id, owner=owner, **fields)
            return audit_id

    def answer(self, call: Call) -> Answer:
        """WeChat's answer to ``call``, with a recorded rid when it is an error."""
        with self._lock:
            account, answer = self._rules(call)
        if answer.get("errcode", 0) != 0:  # stable_token's success has no errcode at all
            answer = self.fail(call, account, answer["errcode"], answer["errmsg"])
        return answer

    def fail(self, call: Call, account: Optional[Account], errcode: int, errmsg: str) -> Answer:
        """An error answer whose errmsg ends with a rid that rid/get can then look up."""
        rid = self.new_rid()
        answer: Answer = {"errcode": errcode, "errmsg": f"{errmsg} rid: {rid}"}
        now = self.clock()
        self.add_rid(
            RidRecord(
                rid=rid,
                owner=account,
                path=call.path,
                invoke_time=int(now),
                cost_in_ms=max(0, int((now - call.started) * 1000)),
                request_url=call.query,
                request_body=call.body.decode("utf-8", "replace"),
                response_body=json.dumps(answer, ensure_ascii=False),
                client_ip=call.client_ip,
            )
        )
        return answer

    def account_for(self, token: str) -> Optional[Account]:
        with self._lock:
            known = self._tokens.get(token)
            return known[0] if known else None

    def _rules(self, call: Call) -> Tuple[Optional[Account], Answer]:
        try:
            body = json.loads(call.body or b"{}")
        except ValueError:
            body = None
        if call.path == STABLE_TOKEN:
            return self._stable_token(body if isinstance(body, dict) else {})
        if call.path in (COMPONENT_TOKEN, START_PUSH_TICKET):
            return self._component_call(call.path, body if isinstance(body, dict) else {})
        if call.path == AUTHORIZER_TOKEN:
            return self._authorizer_token(call.token, body if isinstance(body, dict) else {})
        if call.path == CLEAR_QUOTA_V2:
            return self._clear_quota_v2(call.query, body if isinstance(body, dict) else {})
        known = self._tokens.get(call.token)
        if known is None:
            return None, _error(40001)
        account, ends = known
        if ends is not None and self.clock() >= ends:
            return account, _error(42001)
        if not isinstance(body, dict):
            return account, _error(47001)
        if call.token in self._component_tokens and call.path in (OPEN_GET, QUERY_NICKNAME):
            return account, _error(48001)
        if call.path == QUOTA_GET:
            return account, self._quota_get(account, body.get("cgi_path"))
        if call.path == CLEAR_QUOTA:
            return account, self._clear_quota(account, body.get("appid"))
        quota = self._quota(account, call.path)
        if quota[1] >= quota[0]:
            return account, _error(45009)
        quota[1] += 1
        if call.path == RID_GET:
            return account, self._rid_get(account, body.get("rid"))
        if call.path == OPEN_GET:
            return account, self._open_get(account, body)
        return account, self._query_nickname(account, body.get("audit_id"))

    def _stable_token(self, body: Dict[str, Any]) -> Tuple[Optional[Account], Answer]:
        """Normal mode: the live token, or the next one in its last TOKEN_OVERLAP seconds;
        force_refresh: a new token at once, the old one working TOKEN_OVERLAP more seconds."""
        if body.get("grant_type") != "client_credential":
            return None, _error(40002)
        account = next((a for a in self.accounts if a.appid == body.get("appid")), None)
        if account is None:
            return None, _error(40013)
        if body.get("secret") != account.secret:
            return account, _error(40125)
        now = self.clock()
        ends = self._tokens[account.token][1]
        if body.get("force_refresh") is True or (ends is not None and ends - now <= TOKEN_OVERLAP):
            self.rotate_token(account, overlap=TOKEN_OVERLAP)
            ends = self._tokens[account.token][1]
        expires_in = TOKEN_LIFETIME if ends is None else int(ends - now)
        return account, {"access_token": account.token, "expires_in": expires_in}

    def _component_call(self, path: str, body: Dict[str, Any]) -> Tuple[Optional[Account], Answer]:
        """api_component_token (the secret and a live ticket buy a component token), or
        api_start_push_ticket (the secret alone)."""
        component = self.components.get(body.get("component_appid"))  # type: ignore[arg-type]
        if component is None:
            return None, _error(61011)
        secret_field = "component_appsecret" if path == COMPONENT_TOKEN else "component_secret"
        if body.get(secret_field) != component.secret:
            return component.account, _error(40125)
        if path == START_PUSH_TICKET:
            return component.account, {"errcode": 0, "errmsg": "ok"}
        expires = component.tickets.get(body.get("component_verify_ticket"))  # type: ignore[arg-type]
        if expires is None:
            return component.account, _error(61006)
        now = self.clock()
        if now >= expires:
            return component.account, _error(61005)
        token = self.new_token()
        self._tokens[token] = (component.account, now + TOKEN_LIFETIME)
        self._component_tokens[token] = component
        return component.account, {"component_access_token": token, "expires_in": TOKEN_LIFETIME}

    def _authorizer_token(
        self, component_token: str, body: Dict[str, Any]
    ) -> Tuple[Optional[Account], Answer]:
        """A live component token and the account's current refresh token buy an authorizer
        token (and, when the component rotates them, a new refresh token)."""
        component = self._component_tokens.get(component_token)
        if component is None:
            return None, _error(40001)
        now = self.clock()
        ends = self._tokens[component_token][1]
        if ends is not None and now >= ends:
            return component.account, _error(42001)
        if body.get("component_appid") != component.appid:
            return component.account, _error(61011)
        authorization = component.authorizations.get(body.get("authorizer_appid"))  # type: ignore[arg-type]
        if authorization is None:
            return component.account, _error(61003)
        if authorization.revoked or body.get("authorizer_refresh_token") != (
            authorization.refresh_token
        ):
            return component.account, _error(61023)
        token = self.new_token()
        self._tokens[token] = (authorization.account, now + TOKEN_LIFETIME)
        authorization.tokens.append(token)
        if component.rotate_refresh_tokens:
            authorization.refresh_token = "refreshtoken@@@" + secrets.token_urlsafe(24)
        return component.account, {
            "authorizer_access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "authorizer_refresh_token": authorization.refresh_token,
        }

    def _quota_get(self, account: Account, cgi_path: object) -> Answer:
        """An API's daily limit, what was used of it today, and what remains."""
        if not isinstance(cgi_path, str) or not _CGI_PATH.fullmatch(cgi_path):
            return _error(76021)
        if "/sns/" in cgi_path:
            return {"errcode": 76022, "errmsg": "the quota of /sns/ apis cannot be queried"}
        daily_limit, used, rate_limit = self._quota(account, cgi_path)
        answer: Answer = {
            "errcode": 0,
            "errmsg": "ok",
            "quota": {"daily_limit": daily_limit, "used": used, "remain": daily_limit - used},
        }
        if rate_limit is not None:
            answer["rate_limit"] = {"call_count": rate_limit[0], "refresh_second": rate_limit[1]}
        return answer

    def _reset(self, account: Account) -> Answer:
        """Zero every API's count for today, if the month has a reset left."""
        month = time.gmtime(self.clock())[:2]
        spent = self.resets.setdefault(account.appid, [])
        if spent.count(month) >= RESETS_PER_MONTH:
            return _error(48006)
        spent.append(month)
        for (appid, _), quota in self.quotas.items():
            if appid == account.appid:
                quota[1] = 0
        return {"errcode": 0, "errmsg": "ok"}

    def _clear_quota(self, account: Account, appid: object) -> Answer:
        if not appid:
            return _error(41002)
        if appid != account.appid:
            return _error(40013)
        return self._reset(account)

    def _clear_quota_v2(self, query: str, body: Dict[str, Any]) -> Tuple[Optional[Account], Answer]:
        """The AppSecret instead of a token: from the query string, or else the body."""
        given = {name: values[0] for name, values in parse_qs(query).items()}
        appid = given.get("appid") or body.get("appid")
        secret = given.get("appsecret") or body.get("appsecret")
        if not appid:
            return None, _error(41002)
        if not secret:
            return None, _error(41004)
        account = next((a for a in self.accounts if a.appid == appid), None)
        if account is None:
            return None, _error(40013)
        if secret != account.secret:
            return account, _error(40125)
        return account, self._reset(account)

    def _rid_get(self, account: Account, rid: object) -> Answer:
        if not isinstance(rid, str) or not _RID_SHAPE.fullmatch(rid):
            return _error(76002)
        record = self.rids.get(rid)
        if record is None:
            return _error(76001)
        if record.owner is not account:
            return _error(76003)
        if self.clock() - record.invoke_time > RID_LIFETIME:
            return _error(76004)
        if "/sns/" in record.path:
            return _error(76022)
        request = {
            name: getattr(record, name)
            for name in (
                "invoke_time",
                "cost_in_ms",
                "request_url",
                "request_body",
                "response_body",
                "client_ip",
            )
        }
        return {"errcode": 0, "errmsg": "ok", "request": request}

    def _open_get(self, account: Account, body: Dict[str, Any]) -> Answer:
        if "appid" in body and body["appid"] != account.appid:
            return _error(40013)
        if account.open_appid is None:
            return _error(89002)
        return {"errcode": 0, "errmsg": "ok", "open_appid": account.open_appid}

    def _query_nickname(self, account: Account, audit_id: object) -> Answer:
        audit = self.audits.get(audit_id) if isinstance(audit_id, int) else None
        if audit is None or audit.owner is not account:
            return _error(91011)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "nickname": audit.nickname,
            "audit_stat": audit.audit_stat,
            "fail_reason": audit.fail_reason,
            "create_time": audit.create_time,
            "audit_time": audit.audit_time,
        }
