"""What the fake WeChat knows (accounts, tokens, rids, audits, quotas) and the documented rules
it answers by.

This module knows nothing of HTTP: it takes a call (path, token, body) and returns WeChat's
answer as a dict. Every error answer gets a rid appended to its errmsg, and the call is
recorded under that rid, so ``rid/get`` can show it afterwards, as WeChat does.

It is the core that other parts of the fake build on: a module with endpoints of its own (the
third-party platform's, in ``_component``) registers a rule per path in :attr:`FakeState.rules`
and uses the core's tokens, quotas and resets, so that the core never needs to know it.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple
from urllib.parse import parse_qs

import attr

RID_GET = "/cgi-bin/openapi/rid/get"
OPEN_GET = "/cgi-bin/open/get"
QUERY_NICKNAME = "/wxa/api_wxa_querynickname"
STABLE_TOKEN = "/cgi-bin/stable_token"
QUOTA_GET = "/cgi-bin/openapi/quota/get"
CLEAR_QUOTA = "/cgi-bin/clear_quota"
CLEAR_QUOTA_V2 = "/cgi-bin/clear_quota/v2"
CORE_PATHS = frozenset(
    {RID_GET, OPEN_GET, QUERY_NICKNAME, STABLE_TOKEN, QUOTA_GET, CLEAR_QUOTA, CLEAR_QUOTA_V2}
)
# The APIs an account lets a platform call for it: a platform's own token gets 48001 on them.
AUTHORIZER_APIS = frozenset({OPEN_GET, QUERY_NICKNAME})

RID_LIFETIME = 7 * 24 * 3600  # seconds: rid/get only knows the last 7 days
TOKEN_LIFETIME = 7200  # seconds, the expires_in of a newly issued token
TOKEN_OVERLAP = 300  # seconds a token keeps working after its replacement is issued
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
    40097: "invalid args",
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

    ``token`` changes when a new one is issued; compare accounts by identity. ``mini_program``
    and ``profile`` are what a platform it authorizes sees of it (api_get_authorizer_info):
    ``profile`` overrides the generated fields of its ``authorizer_info`` by name.
    """

    appid: str
    token: str = attr.ib(repr=False)
    open_appid: Optional[str] = None
    secret: str = attr.ib(default="", repr=False)
    mini_program: bool = False
    profile: Dict[str, Any] = attr.ib(factory=dict, repr=False)


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


# A rule of another module's endpoint: the caller's account (the rid's owner) and the answer.
Rule = Callable[[Call, object], Tuple[Optional[Account], Answer]]


def error(errcode: int) -> Answer:
    """An error answer with WeChat's errmsg for ``errcode``; ``answer`` adds the rid."""
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}


class FakeState:
    """The fake's data and rules; every method is safe to call from many threads.

    Calls to a path in :attr:`rules` go to that rule (under :attr:`lock`); the core answers
    the rest.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        # token -> (account, Unix time it stops working, or None for never)
        self._tokens: Dict[str, Tuple[Account, Optional[float]]] = {}
        self.platform_tokens: Set[str] = set()  # a platform's own tokens: 48001 on AUTHORIZER_APIS
        self.refused: Set[str] = set()  # refused (40001) though stable_token still hands them out
        self.accounts: List[Account] = []
        self.rids: Dict[str, RidRecord] = {}
        self.audits: Dict[int, NicknameAuditRecord] = {}
        self._next_audit_id = 1000
        # (appid, cgi_path) -> [daily_limit, used today, rate_limit or None]
        self.quotas: Dict[Tuple[str, str], List[Any]] = {}
        self.resets: Dict[str, List[Tuple[int, int]]] = {}  # appid -> (year, month) of each
        self.rules: Dict[str, Rule] = {}

    def serves(self, path: str) -> bool:
        """Whether ``path`` is an endpoint of the fake's (else the server answers 404)."""
        return path in CORE_PATHS or path in self.rules

    def new_token(self) -> str:
        return "FAKE_" + secrets.token_urlsafe(24)

    def new_rid(self) -> str:
        """A rid shaped like WeChat's: the hex Unix time, then two random hex words."""
        return f"{int(self.clock()) & 0xFFFFFFFF:08x}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"

    def add_account(
        self,
        appid: str,
        token: Optional[str],
        open_appid: Optional[str],
        secret: Optional[str],
        mini_program: bool = False,
        profile: Optional[Dict[str, Any]] = None,
    ) -> Account:
        with self.lock:
            account = Account(
                appid=appid,
                token=token or self.new_token(),
                open_appid=open_appid,
                secret=secret or secrets.token_hex(16),
                mini_program=mini_program,
                profile=dict(profile or {}),
            )
            self._tokens[account.token] = (account, None)
            self.accounts.append(account)
            return account

    def find_account(self, appid: object) -> Optional[Account]:
        return next((a for a in self.accounts if a.appid == appid), None)

    def rotate_token(self, account: Account, overlap: float = 0.0) -> str:
        """Issue a new token; the old one works ``overlap`` more seconds, then answers 42001."""
        with self.lock:
            now = self.clock()
            old_end = self._tokens[account.token][1]
            self._tokens[account.token] = (account, min(old_end or now + overlap, now + overlap))
            account.token = self.new_token()
            self._tokens[account.token] = (account, now + TOKEN_LIFETIME)
            return account.token

    def issue_token(self, account: Account, *, platform: bool = False) -> str:
        """A new token for ``account``, living TOKEN_LIFETIME seconds, beside its others (as a
        component or authorizer token is); a ``platform`` token gets 48001 on AUTHORIZER_APIS."""
        with self.lock:
            token = self.new_token()
            self._tokens[token] = (account, self.clock() + TOKEN_LIFETIME)
            if platform:
                self.platform_tokens.add(token)
            return token

    def holder(self, token: str) -> Tuple[Optional[Account], Optional[Answer]]:
        """The token's account, and the error it gets if it no longer works: 40001 for a
        token WeChat does not know (or no longer does), 42001 for an expired one."""
        known = self._tokens.get(token)
        if known is None:
            return None, error(40001)
        if token in self.refused:
            return known[0], error(40001)
        account, ends = known
        if ends is not None and self.clock() >= ends:
            return account, error(42001)
        return account, None

    def expire_tokens(self, tokens: Iterable[str]) -> None:
        """These tokens expire now (42001 from here on)."""
        with self.lock:
            now = self.clock()
            for token in tokens:
                if token in self._tokens:
                    self._tokens[token] = (self._tokens[token][0], now)

    def forget_tokens(self, tokens: Iterable[str]) -> None:
        """WeChat forgets these tokens (40001 from here on), as it does on a revocation."""
        with self.lock:
            for token in tokens:
                self._tokens.pop(token, None)

    def refuse_token(self, account: Account) -> str:
        """WeChat refuses ``account``'s current token (40001) at its APIs, while stable_token's
        normal mode goes on handing it out: only a forced refresh replaces it."""
        with self.lock:
            self.refused.add(account.token)
            return account.token

    def tokens_of(self, account: Account) -> List[str]:
        """Every token ``account`` holds: its own, and component or authorizer tokens."""
        with self.lock:
            return [token for token, (holder, _) in self._tokens.items() if holder is account]

    def revoke_tokens(self, account: Account) -> None:
        """WeChat forgets every token of ``account``'s (40001 from here on), as when its
        AppSecret is reset; a new one, known to no client, is what stable_token hands out."""
        with self.lock:
            self.forget_tokens(self.tokens_of(account))
            account.token = self.new_token()
            self._tokens[account.token] = (account, None)

    def set_quota(
        self,
        account: Account,
        cgi_path: str,
        daily_limit: int,
        used: int,
        rate_limit: Optional[Tuple[int, int]],
    ) -> None:
        with self.lock:
            self.quotas[(account.appid, cgi_path)] = [daily_limit, used, rate_limit]

    def _quota(self, account: Account, cgi_path: str) -> List[Any]:
        return self.quotas.setdefault((account.appid, cgi_path), [DEFAULT_DAILY_LIMIT, 0, None])

    def spend(self, account: Account, cgi_path: str) -> Optional[Answer]:
        """Count a call of ``account``'s to ``cgi_path`` against its daily quota, or give
        45009 (and count nothing) when today's is used up."""
        with self.lock:
            quota = self._quota(account, cgi_path)
            if quota[1] >= quota[0]:
                return error(45009)
            quota[1] += 1
            return None

    def reset_quota(self, account: Account) -> Answer:
        """Zero every API's count for today, if the month has a reset left (else 48006): the
        one budget clear_quota, clear_quota/v2 and a platform's resets all draw on."""
        with self.lock:
            month = time.gmtime(self.clock())[:2]
            spent = self.resets.setdefault(account.appid, [])
            if spent.count(month) >= RESETS_PER_MONTH:
                return error(48006)
            spent.append(month)
            for (appid, _), quota in self.quotas.items():
                if appid == account.appid:
                    quota[1] = 0
            return {"errcode": 0, "errmsg": "ok"}

    def add_rid(self, record: RidRecord) -> str:
        with self.lock:
            self.rids[record.rid] = record
            return record.rid

    def add_audit(self, owner: Account, audit_id: Optional[int], **fields: Any) -> int:
        with self.lock:
            if audit_id is None:
                self._next_audit_id += 1
                audit_id = self._next_audit_id
            self.audits[audit_id] = NicknameAuditRecord(audit_id=audit_id, owner=owner, **fields)
            return audit_id

    def answer(self, call: Call) -> Answer:
        """WeChat's answer to ``call``, with a recorded rid when it is an error."""
        with self.lock:
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
        with self.lock:
            known = self._tokens.get(token)
            return known[0] if known else None

    def _rules(self, call: Call) -> Tuple[Optional[Account], Answer]:
        try:
            body = json.loads(call.body or b"{}")
        except ValueError:
            body = None
        rule = self.rules.get(call.path)
        if rule is not None:
            return rule(call, body)
        if call.path == STABLE_TOKEN:
            return self._stable_token(body if isinstance(body, dict) else {})
        if call.path == CLEAR_QUOTA_V2:
            return self._clear_quota_v2(call.query, body if isinstance(body, dict) else {})
        account, refused = self.holder(call.token)
        if account is None or refused is not None:
            return account, refused or error(40001)
        if not isinstance(body, dict):
            return account, error(47001)
        if call.token in self.platform_tokens and call.path in AUTHORIZER_APIS:
            return account, error(48001)
        if call.path == QUOTA_GET:
            return account, self._quota_get(account, body.get("cgi_path"))
        if call.path == CLEAR_QUOTA:
            return account, self._clear_quota(account, body.get("appid"))
        refused = self.spend(account, call.path)
        if refused is not None:
            return account, refused
        if call.path == RID_GET:
            return account, self._rid_get(account, body.get("rid"))
        if call.path == OPEN_GET:
            return account, self._open_get(account, body)
        return account, self._query_nickname(account, body.get("audit_id"))

    def _stable_token(self, body: Dict[str, Any]) -> Tuple[Optional[Account], Answer]:
        """Normal mode: the live token, or the next one in its last TOKEN_OVERLAP seconds;
        force_refresh: a new token at once, the old one working TOKEN_OVERLAP more seconds."""
        if body.get("grant_type") != "client_credential":
            return None, error(40002)
        account = self.find_account(body.get("appid"))
        if account is None:
            return None, error(40013)
        if body.get("secret") != account.secret:
            return account, error(40125)
        now = self.clock()
        ends = self._tokens[account.token][1]
        if body.get("force_refresh") is True or (ends is not None and ends - now <= TOKEN_OVERLAP):
            self.rotate_token(account, overlap=TOKEN_OVERLAP)
            ends = self._tokens[account.token][1]
        expires_in = TOKEN_LIFETIME if ends is None else int(ends - now)
        return account, {"access_token": account.token, "expires_in": expires_in}

    def _quota_get(self, account: Account, cgi_path: object) -> Answer:
        """An API's daily limit, what was used of it today, and what remains."""
        if isinstance(cgi_path, str) and not cgi_path.startswith("/"):
            # The docs: a cgi_path with the host before it, or without its leading '/', is 76003.
            return {"errcode": 76003, "errmsg": "invalid cgi_path, please check"}
        if not isinstance(cgi_path, str) or not _CGI_PATH.fullmatch(cgi_path):
            return error(76021)
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

    def _clear_quota(self, account: Account, appid: object) -> Answer:
        if not appid:
            return error(41002)
        if appid != account.appid:
            return error(40013)
        return self.reset_quota(account)

    def _clear_quota_v2(self, query: str, body: Dict[str, Any]) -> Tuple[Optional[Account], Answer]:
        """The AppSecret instead of a token: from the query string, or else the body."""
        given = {name: values[0] for name, values in parse_qs(query).items()}
        appid = given.get("appid") or body.get("appid")
        secret = given.get("appsecret") or body.get("appsecret")
        if not appid:
            return None, error(41002)
        if not secret:
            return None, error(41004)
        account = self.find_account(appid)
        if account is None:
            return None, error(40013)
        if secret != account.secret:
            return account, error(40125)
        return account, self.reset_quota(account)

    def _rid_get(self, account: Account, rid: object) -> Answer:
        if not isinstance(rid, str) or not _RID_SHAPE.fullmatch(rid):
            return error(76002)
        record = self.rids.get(rid)
        if record is None:
            return error(76001)
        if record.owner is not account:
            return error(76003)
        if self.clock() - record.invoke_time > RID_LIFETIME:
            return error(76004)
        if "/sns/" in record.path:
            return error(76022)
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
            return error(40013)
        if account.open_appid is None:
            return error(89002)
        return {"errcode": 0, "errmsg": "ok", "open_appid": account.open_appid}

    def _query_nickname(self, account: Account, audit_id: object) -> Answer:
        audit = self.audits.get(audit_id) if isinstance(audit_id, int) else None
        if audit is None or audit.owner is not account:
            return error(91011)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "nickname": audit.nickname,
            "audit_stat": audit.audit_stat,
            "fail_reason": audit.fail_reason,
            "create_time": audit.create_time,
            "audit_time": audit.audit_time,
        }
