"""The fake WeChat server: stdlib HTTP in a thread on 127.0.0.1, with faults on request.

It answers its endpoints by the rules in ``_state`` (and the platform's in ``_component``),
logs and counts every request, counts TCP connections, and misbehaves on cue (``inject``,
``stall``) the way real networks and gateways do. Answers are written as raw bytes, head and
body in one write, so faults can cut, trickle or reset at exactly the byte they mean to. The
same port answers the control surface (``_control``, under ``/_fake/``), for a fake in
another process.
"""

from __future__ import annotations

import collections
import contextlib
import http.server
import itertools
import json
import secrets
import socket
import struct
import sys
import threading
import time
from datetime import datetime
from http import HTTPStatus
from typing import (
    TYPE_CHECKING,
    Any,
    Deque,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)
from urllib.parse import parse_qs, urlsplit

import attr

from .._settings import _seconds
from ..client import Client
from . import _control
from ._component import (
    AUTHORIZATION_CODE_LIFETIME,
    DEFAULT_FUNC_INFO,
    Component,
    ComponentState,
)
from ._faults import HTML_TYPE, JSON_TYPE, Fault, FaultKind, Stall
from ._state import Account, Call, FakeState, RidRecord

if TYPE_CHECKING:  # imported when a push is built: it needs the [platform] extra
    from ._pushes import SignedPush

_CHUNK = 64 * 1024
_MISBEHAVIOURS = frozenset({FaultKind.RESPOND, FaultKind.RESET, FaultKind.RAW, FaultKind.HUGE})
MAX_LOGGED = 10_000  # requests the log keeps, newest last
_HUNG_UP = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)

Time = Union[datetime, float, int]


def _epoch(value: Time) -> int:
    return int(value.timestamp() if isinstance(value, datetime) else value)


@attr.s(auto_attribs=True, frozen=True)
class LoggedRequest:
    """One request as the fake received it. ``connection`` numbers TCP connections from 1."""

    path: str
    token: str = attr.ib(repr=False)
    body: bytes
    connection: int
    target: str = attr.ib(repr=False)
    headers: Dict[str, str] = attr.ib(repr=False)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@attr.s(auto_attribs=True)
class _Injection:
    fault: Fault
    remaining: int
    path: Optional[str]


class FakeWeChat:
    """A fake WeChat OpenAPI server on 127.0.0.1, for tests. Use it as a context manager.

    Seed it (:meth:`add_account`, :meth:`add_rid`, :meth:`add_nickname_audit`), point a
    client at :attr:`url` (or take one from :meth:`client`), and it answers as WeChat's
    documents say, errors included. :meth:`inject` makes the next calls fail on purpose and
    :meth:`stall` holds them; :attr:`requests`, :meth:`counts` and :attr:`connections` show
    what the client did. :meth:`seed_component` and :meth:`report` give a recipe what it
    needs. Each of these is also served over HTTP under ``/_fake/``, for a fake in another
    process (see ``python -m wechat_openapi.testing serve``).
    """

    def __init__(self, port: int = 0, *, max_logged: int = MAX_LOGGED) -> None:
        self._offset = 0.0
        self.state = FakeState(self.now)
        self.platforms = ComponentState(self.state)  # serves the /cgi-bin/component/ paths
        self._lock = threading.Lock()
        self._log: Deque[LoggedRequest] = collections.deque(maxlen=max_logged)
        self._injections: List[_Injection] = []
        self._stalls: List[Stall] = []
        self._counts = _control.RequestCounts()
        self._sockets: Set[socket.socket] = set()
        self._connection_ids = itertools.count(1)
        self.connections = 0
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread: Optional[threading.Thread] = None
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeWeChat:
        """Start serving in a background thread (the context manager does this)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="FakeWeChat",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; idempotent."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()

    def __enter__(self) -> FakeWeChat:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # The clock -----------------------------------------------------------------------

    def now(self) -> float:
        """The fake's time (Unix seconds): the real time plus whatever :meth:`advance` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward, to age rids without waiting."""
        self._offset += seconds

    # Seeding -------------------------------------------------------------------------

    def add_account(
        self,
        appid: Optional[str] = None,
        *,
        token: Optional[str] = None,
        open_appid: Optional[str] = None,
        secret: Optional[str] = None,
        mini_program: bool = False,
        profile: Optional[Mapping[str, Any]] = None,
    ) -> Account:
        """Add an account (a fresh token and AppSecret unless given), bound to ``open_appid``
        if given. Its token never expires unless rotated.

        What a platform it authorizes sees (api_get_authorizer_info) is generated from its
        appid: an Official Account, or with ``mini_program`` a Mini Program with its
        ``MiniProgramInfo``; ``profile`` replaces fields of that ``authorizer_info`` by name
        (``{"nick_name": "My Shop", "verify_type_info": {"id": -1}}``).
        """
        appid = appid or "wx" + secrets.token_hex(8)
        return self.state.add_account(
            appid, token, open_appid, secret, mini_program, dict(profile or {})
        )

    def rotate_token(self, account: Account, *, overlap: float = 0.0) -> str:
        """Give ``account`` a new token; the old one answers 42001 (expired) after
        ``overlap`` seconds (stable_token's force_refresh uses 300)."""
        return self.state.rotate_token(account, overlap)

    def add_rid(
        self,
        owner: Account,
        *,
        rid: Optional[str] = None,
        path: str = "/cgi-bin/message/custom/send",
        invoke_time: Optional[Time] = None,
        cost_in_ms: int = 12,
        request_url: Optional[str] = None,
        request_body: str = "",
        response_body: str = '{"errcode":0,"errmsg":"ok"}',
        client_ip: str = "127.0.0.1",
    ) -> str:
        """Record an earlier call of ``owner``'s for rid/get to find; returns its rid.

        ``path`` is the interface that was called (an ``/sns/`` one gives 76022);
        ``invoke_time`` defaults to now (more than 7 days ago gives 76004).
        """
        return self.state.add_rid(
            RidRecord(
                rid=rid or self.state.new_rid(),
                owner=owner,
                path=path,
                invoke_time=_epoch(self.now() if invoke_time is None else invoke_time),
                cost_in_ms=cost_in_ms,
                request_url=f"access_token={owner.token}&" if request_url is None else request_url,
                request_body=request_body,
                response_body=response_body,
                client_ip=client_ip,
            )
        )

    def add_nickname_audit(
        self,
        owner: Account,
        nickname: str,
        *,
        audit_stat: int = 1,
        fail_reason: str = "",
        create_time: Optional[Time] = None,
        audit_time: Optional[Time] = None,
        audit_id: Optional[int] = None,
    ) -> int:
        """Add a nickname change audit of ``owner``'s; returns its audit_id."""
        return self.state.add_audit(
            owner,
            audit_id,
            nickname=nickname,
            audit_stat=int(audit_stat),
            fail_reason=fail_reason,
            create_time=_epoch(self.now() if create_time is None else create_time),
            audit_time=0 if audit_time is None else _epoch(audit_time),
        )

    def set_quota(
        self,
        account: Account,
        cgi_path: str,
        *,
        daily_limit: int,
        used: int = 0,
        rate_limit: Optional[Tuple[int, int]] = None,
    ) -> None:
        """Seed today's quota of ``account``'s API at ``cgi_path``. Calls to the fake's own
        endpoints count against it: past ``daily_limit`` they get 45009, until a reset.
        ``rate_limit`` is ``(call_count, refresh_second)``, shown by quota/get."""
        self.state.set_quota(account, cgi_path, daily_limit, used, rate_limit)

    def add_component(
        self,
        component_appid: Optional[str] = None,
        *,
        secret: Optional[str] = None,
        rotate_refresh_tokens: bool = False,
        push_token: Optional[str] = None,
        encoding_aes_key: Optional[str] = None,
        list_page_cap: Optional[int] = None,
    ) -> Component:
        """Add a third-party platform (a fresh secret, push token and EncodingAESKey unless
        given). With ``rotate_refresh_tokens``, each authorizer-token fetch returns a new
        refresh token and the old one then gets 61023. With ``list_page_cap``,
        api_get_authorizer_list returns at most that many accounts a page whatever ``count``
        asked for (``total_count`` stays right), as WeChat sometimes does: a client must page
        on until it has ``total_count``, not stop at the first short page."""
        component_appid = component_appid or "wx" + secrets.token_hex(8)
        return self.platforms.add_component(
            component_appid,
            secret,
            rotate_refresh_tokens,
            push_token=push_token,
            encoding_aes_key=encoding_aes_key,
            list_page_cap=list_page_cap,
        )

    def issue_ticket(self, component: Component) -> str:
        """What WeChat pushes to the platform's callback every 10 minutes: a new
        component_verify_ticket, valid 12 hours on the fake's clock (then 61005)."""
        return self.platforms.issue_ticket(component)

    def authorize(self, component: Component, account: Account) -> str:
        """``account`` authorizes ``component`` (again); returns its new
        authorizer_refresh_token."""
        return self.platforms.authorize(component, account).refresh_token

    def authorization_code(
        self,
        component: Component,
        account: Account,
        *,
        func_info: Sequence[int] = DEFAULT_FUNC_INFO,
        expires_in: float = AUTHORIZATION_CODE_LIFETIME,
    ) -> str:
        """``account`` authorizes ``component`` on WeChat's page, granting the permission sets
        ``func_info`` (``()``: none): returns the authorization code for api_query_auth, good
        once within ``expires_in`` seconds (then 61010; used or unknown, 61009). The
        authorization gets a new refresh token; a revoked one's old tokens stay dead."""
        code, _ = self.platforms.issue_code(component, account, func_info, expires_in)
        return code

    def expire_authorizer_tokens(self, component: Component, account: Account) -> None:
        """The authorizer tokens issued to ``account`` under ``component`` expire now (42001);
        its refresh token still works."""
        self.platforms.expire_authorizer_tokens(component, account)

    def revoke(self, component: Component, account: Account) -> None:
        """``account`` revokes the authorization: its refresh token gets 61023, the
        authorizer tokens issued under it stop working (40001), api_get_authorizer_info gets
        61003 and api_get_authorizer_list leaves it out."""
        self.platforms.revoke(component, account)

    def seed_component(
        self,
        component_appid: Optional[str] = None,
        *,
        authorizers: Union[int, Sequence[str]] = 2,
        secret: Optional[str] = None,
        push_token: Optional[str] = None,
        encoding_aes_key: Optional[str] = None,
        rotate_refresh_tokens: bool = False,
    ) -> Component:
        """A platform a recipe can run against at once: :meth:`add_component`, a ticket (as
        if WeChat had pushed it) and ``authorizers``, a count of new accounts, each bound to
        an open appid, or the appids of the accounts (existing ones, or new) that authorized
        it. :meth:`report` shows its keys, ticket and refresh tokens."""
        if isinstance(authorizers, int):
            if authorizers < 0:
                raise ValueError(f"authorizers must be at least 0, got {authorizers}")
            appids: List[Optional[str]] = [None] * authorizers
        else:
            appids = list(authorizers)
        component = self.add_component(
            component_appid,
            secret=secret,
            rotate_refresh_tokens=rotate_refresh_tokens,
            push_token=push_token,
            encoding_aes_key=encoding_aes_key,
        )
        self.issue_ticket(component)
        for appid in appids:
            account = (appid and self.state.find_account(appid)) or self.add_account(
                appid, open_appid="wxopen" + secrets.token_hex(5)
            )
            self.authorize(component, account)
        return component

    def expire_tokens(self, account: Account) -> None:
        """Every token ``account`` holds expires now (42001 from here on): its own, and any
        component or authorizer token; stable_token then hands out a new one."""
        self.state.expire_tokens(self.state.tokens_of(account))

    def revoke_tokens(self, account: Account) -> None:
        """WeChat forgets every token ``account`` holds (40001 from here on), as when its
        AppSecret is reset; stable_token then hands out a new one."""
        self.state.revoke_tokens(account)

    def refuse_token(self, account: Account) -> str:
        """WeChat refuses ``account``'s current access token (40001) while stable_token's
        normal mode still hands it out, the one case ``force_refresh`` is for: a forced refresh
        issues the next token. Returns the refused token."""
        return self.state.refuse_token(account)

    def report(self) -> Dict[str, Any]:
        """Everything seeded that a recipe needs, as JSON: ``url``; ``accounts`` (``appid``,
        ``secret``, ``access_token``, ``open_appid``); ``components`` (``appid``, ``secret``,
        ``push_token``, ``encoding_aes_key``, the newest live ``ticket``, and ``authorizers``
        with their ``appid``, ``refresh_token`` and ``revoked``); and ``environment``, the
        variables the README's recipes read, for the first account and component."""
        return _control.describe(self)

    # The platform's pushes -------------------------------------------------------------
    # ``_pushes`` is imported when a push is asked for: it needs cryptography (the
    # [platform] extra), and the rest of the fake works without it.

    def ticket_push(self, component: Component) -> SignedPush:
        """A new ticket (as :meth:`issue_ticket`) as WeChat pushes it to the platform's
        callback: signed and encrypted with the component's push keys."""
        from ._pushes import ticket_fields

        ticket = self.issue_ticket(component)
        return self._push(component, ticket_fields(component.appid, ticket, int(self.now())))

    def authorized_push(
        self,
        component: Component,
        account: Account,
        *,
        func_info: Sequence[int] = DEFAULT_FUNC_INFO,
    ) -> SignedPush:
        """``account`` authorizes ``component`` (as :meth:`authorization_code`), and WeChat
        pushes the authorization code to the platform (InfoType ``authorized``)."""
        return self._authorization_push(component, account, func_info, "authorized")

    def updateauthorized_push(
        self,
        component: Component,
        account: Account,
        *,
        func_info: Sequence[int] = DEFAULT_FUNC_INFO,
    ) -> SignedPush:
        """``account`` changes what it grants ``component``: a new authorization code, pushed
        with InfoType ``updateauthorized``."""
        return self._authorization_push(component, account, func_info, "updateauthorized")

    def unauthorized_push(self, component: Component, account: Account) -> SignedPush:
        """``account`` revokes the authorization (as :meth:`revoke`), and WeChat tells the
        platform (InfoType ``unauthorized``)."""
        from ._pushes import unauthorized_fields

        self.revoke(component, account)
        fields = unauthorized_fields(component.appid, account.appid, int(self.now()))
        return self._push(component, fields)

    def _authorization_push(
        self, component: Component, account: Account, func_info: Sequence[int], info_type: str
    ) -> SignedPush:
        from ._pushes import authorized_fields

        pre_auth_code = self.platforms.issue_pre_auth_code(component)
        code, expires_at = self.platforms.issue_code(component, account, func_info)
        fields = authorized_fields(
            component.appid,
            account.appid,
            code,
            int(expires_at),
            pre_auth_code,
            int(self.now()),
            info_type=info_type,
        )
        return self._push(component, fields)

    def _push(self, component: Component, fields: Sequence[Tuple[str, str]]) -> SignedPush:
        from ._pushes import build_push

        return build_push(
            fields,
            push_token=component.push_token,
            encoding_aes_key=component.encoding_aes_key,
            appid=component.appid,
        )

    def client(self, account: Account, **options: Any) -> Client:
        """A Client for ``account`` pointed at this fake (options go to Client), whose retries
        do not wait (see :func:`no_backoff`)."""
        return no_backoff(Client(access_token=account.token, base_url=self.url, **options))

    # Faults and observations ---------------------------------------------------------

    def inject(self, fault: Fault, *, times: int = 1, path: Optional[str] = None) -> None:
        """Make the next ``times`` calls (to ``path`` only, if given) suffer ``fault``."""
        with self._lock:
            self._injections.append(_Injection(fault, times, path))

    def stall(
        self, path: str, seconds: float, *, where: Optional[Mapping[str, Any]] = None
    ) -> None:
        """Hold every request to ``path`` that arrives in the next ``seconds`` until they are
        over, then answer it as usual, as a stalled upstream does: it still does the work, so a
        forced stable_token refresh sent meanwhile rotates the token when the stall ends.
        ``where`` narrows it to requests whose JSON body has all these top-level fields
        (``{"force_refresh": True}``: forced refreshes only). Stopping the fake ends it."""
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, got {type(path).__name__}")
        if not path.startswith("/"):
            raise ValueError(f"path must be a path such as /cgi-bin/stable_token, got {path!r}")
        if _control.is_control(path):
            raise ValueError("the control surface is never stalled")
        ends = time.monotonic() + _seconds("seconds", seconds)
        stall = Stall.create(path, ends, where)
        with self._lock:
            self._stalls.append(stall)

    def counts(self) -> Dict[str, Any]:
        """What arrived, before any stall or fault acted on it: ``{"requests": {path: n},
        "token_fetches": {"stable_token": {"normal": n, "force_refresh": n},
        "component_token": n, "authorizer_token": n}}``. Paths the fake does not serve, and
        the control surface's, are not counted."""
        return self._counts.snapshot()

    def reset_counts(self) -> Dict[str, Any]:
        """Start the counts from zero; returns them as they were, read in the same breath."""
        return self._counts.snapshot(reset=True)

    @property
    def requests(self) -> List[LoggedRequest]:
        """The requests received so far, in order of arrival: the newest ``max_logged``."""
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Forget the requests logged so far (a long-running fake's log stays small)."""
        with self._lock:
            self._log.clear()

    @property
    def rids(self) -> Dict[str, RidRecord]:
        """Every rid the fake knows: seeded ones and those of the errors it answered."""
        return dict(self.state.rids)

    def _take_fault(self, path: str) -> Optional[Fault]:
        with self._lock:
            for injection in self._injections:
                if injection.path in (None, path):
                    injection.remaining -= 1
                    if injection.remaining <= 0:
                        self._injections.remove(injection)
                    return injection.fault
        return None

    def _opened(self, sock: socket.socket) -> int:
        with self._lock:
            self.connections += 1
            self._sockets.add(sock)
            return next(self._connection_ids)

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _arrived(self, request: LoggedRequest, fields: Optional[Mapping[str, Any]]) -> None:
        with self._lock:
            self._log.append(request)
        if self.state.serves(request.path):
            self._counts.add(request.path, fields)

    def _held(self, path: str, fields: Optional[Mapping[str, Any]]) -> bool:
        """Hold a request to ``path`` through the stalls it meets: True once it may be
        answered, False if the fake stopped meanwhile (it is then dropped unanswered)."""
        now = time.monotonic()
        with self._lock:
            self._stalls = [stall for stall in self._stalls if stall.ends > now]
            ends = max((s.ends for s in self._stalls if s.holds(path, fields)), default=now)
        return ends <= now or not self._stopping.wait(ends - now)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs when many threads connect at once
    fake: FakeWeChat

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout, Ctrl-C, a reset) is no error of the fake's."""
        if not isinstance(sys.exc_info()[1], _HUNG_UP):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.fake._opened(self.connection)

    def finish(self) -> None:
        self.server.fake._closed(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test suite's output is not the place for an access log."""

    def do_POST(self) -> None:
        try:
            self._serve()
        except OSError:  # the client went away mid-answer, which some tests make it do
            self.close_connection = True

    def do_GET(self) -> None:
        """The control surface's reports only: WeChat's endpoints take POST."""
        if _control.is_control(urlsplit(self.path).path):
            self.do_POST()
        else:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")

    def _serve(self) -> None:
        fake = self.server.fake
        started = fake.now()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = urlsplit(self.path)
        if _control.is_control(target.path):
            status, answer = _control.handle(fake, self.command, target.path, body)
            self._send(status, json.dumps(answer, ensure_ascii=False).encode("utf-8"), JSON_TYPE)
            return
        query = parse_qs(target.query)
        token = (query.get("access_token") or query.get("component_access_token") or [""])[0]
        fields = _control.json_fields(body)
        fake._arrived(
            LoggedRequest(
                path=target.path,
                token=token,
                body=body,
                connection=self.connection_id,
                target=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
            ),
            fields,
        )
        if not fake._held(target.path, fields):
            self.close_connection = True
            return
        fault = fake._take_fault(target.path)
        if fault is not None and fault.kind in _MISBEHAVIOURS:
            self._misbehave(fault)
            return
        if (
            fault is not None
            and fault.kind is FaultKind.DELAY
            and fake._stopping.wait(fault.seconds)
        ):
            self.close_connection = True
            return
        if not fake.state.serves(target.path):
            self._send(404, b"<html><body>404 Not Found</body></html>", HTML_TYPE)
            return
        call = Call(target.path, target.query, token, body, self.client_address[0], started)
        if fault is not None and fault.kind is FaultKind.API_ERROR:
            account = fake.state.account_for(token)
            answer = fake.state.fail(call, account, fault.errcode, fault.errmsg)
        else:
            answer = fake.state.answer(call)
        data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        if fault is not None and fault.kind is FaultKind.TRICKLE:
            self._trickle(data, fault.seconds)
        elif fault is not None and fault.kind is FaultKind.CUT:
            self.wfile.write(self._head(200, JSON_TYPE, len(data)) + data[: fault.size])
            self.close_connection = True
        else:
            self._send(200, data, JSON_TYPE)

    def _head(
        self,
        status: int,
        content_type: str,
        length: Optional[int],
        headers: Tuple[Tuple[str, str], ...] = (),
    ) -> bytes:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "?"
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}"]
        lines.append(
            "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
        )
        lines.extend(f"{name}: {value}" for name, value in headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Tuple[Tuple[str, str], ...] = (),
        chunked: bool = False,
    ) -> None:
        if chunked:
            framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
            self.wfile.write(self._head(status, content_type, None, headers) + framed)
        else:
            self.wfile.write(self._head(status, content_type, len(body), headers) + body)

    def _misbehave(self, fault: Fault) -> None:
        if fault.kind is FaultKind.RESPOND:
            self._send(fault.status, fault.body, fault.content_type, fault.headers, fault.chunked)
        elif fault.kind is FaultKind.RAW:
            self.wfile.write(fault.body)
            self.close_connection = True
        elif fault.kind is FaultKind.RESET:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            self._stream_huge(fault.size, fault.chunked)

    def _stream_huge(self, size: int, chunked: bool) -> None:
        self.wfile.write(self._head(200, JSON_TYPE, None if chunked else size))
        for piece in _padding(size):
            if self.server.fake._stopping.is_set():
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _trickle(self, data: bytes, interval: float) -> None:
        self.wfile.write(self._head(200, JSON_TYPE, len(data)))
        for index in range(len(data)):
            if self.server.fake._stopping.wait(interval):
                self.close_connection = True
                return
            self.wfile.write(data[index : index + 1])


def no_backoff(client: Client) -> Client:
    """Make ``client`` (and every client derived from it) retry without waiting, for tests:
    retries still happen, within ``max_retries`` and the deadline, but never sleep."""
    client._transport.backoff = lambda retry: 0.0
    return client


def _padding(size: int) -> Iterator[bytes]:
    """``size`` bytes of a JSON object with one long string, in pieces, never all at once."""
    start, end = b'{"errcode": 0, "padding": "', b'"}'
    middle = max(0, size - len(start) - len(end))
    yield start
    block = b"x" * _CHUNK
    while middle > 0:
        piece = block[: min(middle, _CHUNK)]
        middle -= len(piece)
        yield piece
    yield end
