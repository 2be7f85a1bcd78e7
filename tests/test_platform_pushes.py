"""WeChat's pushes to a platform's callback URL, delivered by real HTTP POSTs built by the fake:
every kind applied, every forgery refused, over real sockets end to end."""

from __future__ import annotations

import http.server
import logging
import pickle
import threading
import traceback
from typing import Any, Iterator, List, Optional, Tuple

import attr
import pytest
from django.core.cache.backends.locmem import LocMemCache

import wechat_openapi as wo
from tests.platform_support import (
    AUTHORIZER_TOKEN,
    COMPONENT_APPID,
    COMPONENT_SECRET,
    COMPONENT_TOKEN,
    OPEN_GET,
    Store,
    paths,
    platform,
)
from wechat_openapi.testing import Account, Component, FakeWeChat
from wechat_openapi.testing._pushes import SignedPush, build_push

QUERY_AUTH = "/cgi-bin/component/api_query_auth"


class Callback:
    """A platform's callback URL on 127.0.0.1: each POST goes to ``handle_push``, answered
    ``success``, or 400 for a push that does not check out, as the README's view does."""

    def __init__(self, tenant: wo.ComponentPlatform) -> None:
        self.tenant = tenant
        self.pushes: List[wo.Push] = []
        self.refusals: List[wo.PushVerificationError] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from urllib.parse import parse_qs, urlsplit

                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    push = outer.tenant.handle_push(
                        body,
                        msg_signature=query.get("msg_signature", ""),
                        timestamp=query.get("timestamp", ""),
                        nonce=query.get("nonce", ""),
                    )
                except wo.PushVerificationError as error:
                    outer.refusals.append(error)
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.pushes.append(push)
                self.send_response(200)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"success")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wechat/callback/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def deliver(self, push: SignedPush) -> Tuple[int, bytes]:
        return push.deliver(self.url)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def keyed_platform(
    fake: FakeWeChat, component: Component, store: Store, **options: Any
) -> wo.ComponentPlatform:
    return platform(
        fake,
        store,
        push_token=component.push_token,
        encoding_aes_key=component.encoding_aes_key,
        **options,
    )


@pytest.fixture
def tenant(wechat_fake: FakeWeChat, component: Component, store: Store) -> wo.ComponentPlatform:
    return keyed_platform(wechat_fake, component, store)


@pytest.fixture
def callback(tenant: wo.ComponentPlatform) -> Iterator[Callback]:
    server = Callback(tenant)
    yield server
    server.close()


def test_a_ticket_push_buys_the_component_token(
    wechat_fake: FakeWeChat, component: Component, callback: Callback
) -> None:
    push = wechat_fake.ticket_push(component)
    assert callback.deliver(push) == (200, b"success")

    (received,) = callback.pushes
    assert received.info_type == "component_verify_ticket"
    assert received.create_time.tzinfo is not None
    assert received.authorizer_appid is None
    assert "ComponentVerifyTicket" not in received.fields
    assert callback.tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    token_request = wechat_fake.requests[0]
    assert token_request.path == COMPONENT_TOKEN
    assert token_request.json()["component_verify_ticket"] in component.tickets


def test_the_ticket_keeps_its_push_time_and_an_older_push_does_not_replace_it(
    wechat_fake: FakeWeChat, component: Component, callback: Callback
) -> None:
    newer = wechat_fake.ticket_push(component)
    wechat_fake.advance(-100)
    older = wechat_fake.ticket_push(component)
    wechat_fake.advance(100)
    assert callback.deliver(newer)[0] == 200
    assert callback.deliver(older)[0] == 200
    held = callback.tenant._tickets._newest
    assert held is not None
    assert held.received == callback.pushes[0].create_time.timestamp()


def test_an_authorized_push_completes_with_its_code_and_seeds_the_token(
    wechat_fake: FakeWeChat, component: Component, callback: Callback
) -> None:
    newcomer = wechat_fake.add_account("wxnew", open_appid="wxopen-new")
    callback.deliver(wechat_fake.ticket_push(component))
    assert callback.deliver(wechat_fake.authorized_push(component, newcomer))[0] == 200

    push = callback.pushes[-1]
    assert push.info_type == "authorized"
    assert push.authorizer_appid == "wxnew"
    assert push.authorization_code is not None
    assert push.authorization_code not in repr(push)
    assert pickle.loads(pickle.dumps(push)) == push  # a task queue may carry it

    authorization = callback.tenant.complete_authorization(push.authorization_code)
    assert authorization.authorizer_appid == "wxnew"
    assert callback.tenant.client("wxnew").get_open_account().open_appid == "wxopen-new"
    assert AUTHORIZER_TOKEN not in paths(wechat_fake)


def test_an_unauthorized_push_forgets_the_account_and_costs_no_round_trip(
    wechat_fake: FakeWeChat, component: Component, shop: Account, callback: Callback
) -> None:
    class DeletingStore(Store):
        def delete(self, authorizer_appid: str) -> None:
            del self.tokens[authorizer_appid]

    store = DeletingStore({"wxshop": wechat_fake.authorize(component, shop)})
    callback.tenant = keyed_platform(wechat_fake, component, store)
    callback.deliver(wechat_fake.ticket_push(component))
    callback.tenant.client("wxshop").get_open_account()

    assert callback.deliver(wechat_fake.unauthorized_push(component, shop))[0] == 200
    assert callback.pushes[-1].info_type == "unauthorized"
    assert store.tokens == {}

    before = len(wechat_fake.requests)
    for _ in range(3):
        with pytest.raises(wo.AuthorizationRevokedError, match="withdrew its authorization"):
            callback.tenant.client("wxshop").get_open_account()
    assert len(wechat_fake.requests) == before  # no round trip, no lookup

    # Authorizing again (the authorized push, then completing it) brings it back.
    callback.deliver(wechat_fake.authorized_push(component, shop))
    callback.tenant.complete_authorization(callback.pushes[-1].authorization_code or "")
    assert callback.tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"


def test_withdrawal_reaches_every_process_through_the_cache(
    wechat_fake: FakeWeChat, component: Component, shop: Account, store: Store
) -> None:
    cache = LocMemCache("withdrawn", {})
    receiver = keyed_platform(wechat_fake, component, store, cache=cache)
    worker = keyed_platform(wechat_fake, component, store, cache=cache)
    receiver.handle_push(**_arguments(wechat_fake.ticket_push(component)))
    worker.client("wxshop").get_open_account()

    receiver.handle_push(**_arguments(wechat_fake.unauthorized_push(component, shop)))
    before = len(wechat_fake.requests)
    with pytest.raises(wo.AuthorizationRevokedError):
        worker.client("wxshop").get_open_account()
    # The worker's held token was refused once (WeChat revoked it); then no refresh at all.
    assert since(wechat_fake, before) == [OPEN_GET]


def test_an_updateauthorized_push_drops_the_accounts_tokens(
    wechat_fake: FakeWeChat, component: Component, shop: Account, callback: Callback
) -> None:
    callback.deliver(wechat_fake.ticket_push(component))
    callback.tenant.client("wxshop").get_open_account()
    assert callback.deliver(wechat_fake.updateauthorized_push(component, shop))[0] == 200
    assert callback.pushes[-1].info_type == "updateauthorized"
    callback.tenant.complete_authorization(callback.pushes[-1].authorization_code or "")
    before = len(wechat_fake.requests)
    callback.tenant.client("wxshop").get_open_account()
    assert since(wechat_fake, before) == [OPEN_GET]  # the new grant's seeded token


@pytest.mark.parametrize(
    ("fields", "info_type"),
    [
        (
            [("AppId", COMPONENT_APPID), ("CreateTime", "NOW"),
             ("InfoType", "notify_third_fasteregister"), ("appid", "wxnewmini"),
             ("status", "0"), ("auth_code", "xxx"), ("msg", "OK")],
            "notify_third_fasteregister",
        ),
        (
            [("ToUserName", "gh_shop"), ("FromUserName", "oUser"), ("CreateTime", "NOW"),
             ("MsgType", "text"), ("Content", "hello")],
            None,
        ),
    ],
)  # fmt: skip
def test_other_pushes_are_returned_not_refused(
    wechat_fake: FakeWeChat,
    component: Component,
    callback: Callback,
    fields: List[Tuple[str, str]],
    info_type: Optional[str],
) -> None:
    now = str(int(wechat_fake.now()))
    push = build_push(
        [(name, now if value == "NOW" else value) for name, value in fields],
        push_token=component.push_token,
        encoding_aes_key=component.encoding_aes_key,
        appid=COMPONENT_APPID,
    )
    assert callback.deliver(push) == (200, b"success")
    received = callback.pushes[-1]
    assert received.info_type == info_type
    assert received.fields.get("MsgType" if info_type is None else "status") in ("text", "0")


def _arguments(push: SignedPush) -> Any:
    return {"body": push.body, **push.params}


def since(fake: FakeWeChat, before: int) -> List[str]:
    return paths(fake)[before:]


def _forged(fake: FakeWeChat, component: Component, how: str) -> SignedPush:
    keys = {"push_token": component.push_token, "encoding_aes_key": component.encoding_aes_key}
    ticket = [
        ("AppId", COMPONENT_APPID),
        ("CreateTime", str(int(fake.now()))),
        ("InfoType", "component_verify_ticket"),
        ("ComponentVerifyTicket", "ticket@@@x"),
    ]
    genuine = build_push(ticket, appid=COMPONENT_APPID, **keys)
    if how == "signature":
        return attr.evolve(genuine, msg_signature="0" * 40)
    if how == "token":
        return build_push(ticket, appid=COMPONENT_APPID, **{**keys, "push_token": "not-it"})
    if how == "key":
        other = "B" * 43
        return build_push(ticket, appid=COMPONENT_APPID, **{**keys, "encoding_aes_key": other})
    if how == "appid":
        return build_push(ticket, appid="wxsomeoneelse", **keys)
    if how == "stale":
        return build_push(ticket, appid=COMPONENT_APPID, timestamp=int(fake.now()) - 301, **keys)
    if how == "tampered":
        body = genuine.body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA", 1)
        return attr.evolve(genuine, body=body)
    if how == "garbage":
        return attr.evolve(genuine, body=b"\x00\xffnot xml")
    assert how == "doctype"
    body = b'<!DOCTYPE xml [<!ENTITY a "aaaa">]>' + genuine.body
    return attr.evolve(genuine, body=body)


FORGERIES = ["signature", "token", "key", "appid", "stale", "tampered", "garbage", "doctype"]


@pytest.mark.parametrize("how", FORGERIES)
def test_every_forgery_is_refused_over_http_and_changes_nothing(
    wechat_fake: FakeWeChat,
    component: Component,
    callback: Callback,
    how: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert callback.deliver(_forged(wechat_fake, component, how))[0] == 400
    assert callback.pushes == []
    (error,) = callback.refusals
    assert isinstance(error, wo.WeChatError)
    texts = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        caplog.text,
    ]
    texts.append(pickle.dumps(error).decode("latin-1"))
    for secret in (component.push_token, component.encoding_aes_key, "ticket@@@x"):
        assert all(secret not in text for text in texts), how
    assert callback.tenant._tickets._newest is None  # no ticket taken from a forgery


def test_a_platform_without_push_keys_says_so() -> None:
    tenant = wo.ComponentPlatform(COMPONENT_APPID, COMPONENT_SECRET, refresh_tokens=Store())
    with pytest.raises(ValueError, match=r"push_token=\.\.\., encoding_aes_key="):
        tenant.handle_push(b"<xml/>", msg_signature="x", timestamp="1", nonce="n")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"push_token": "t"}, TypeError),
        ({"push_token": "t", "encoding_aes_key": "short"}, ValueError),
        ({"push_max_age": 0}, ValueError),
        ({"push_max_age": "300"}, TypeError),
        ({"push_max_bytes": 10}, ValueError),
        ({"push_max_bytes": 1.5}, TypeError),
    ],
)
def test_bad_push_options_are_refused_at_construction(options: Any, error: type) -> None:
    with pytest.raises(error):
        wo.ComponentPlatform(COMPONENT_APPID, COMPONENT_SECRET, refresh_tokens=Store(), **options)


def test_push_max_age_none_accepts_an_old_push(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    tenant = keyed_platform(wechat_fake, component, store, push_max_age=None)
    wechat_fake.advance(-3600)
    push = wechat_fake.ticket_push(component)  # an hour old by the platform's clock
    wechat_fake.advance(3600)
    tenant.handle_push(**_arguments(push))  # checked by its signature alone
    assert tenant._tickets._newest is not None


def test_no_secret_of_the_lifecycle_appears_in_any_text(
    wechat_fake: FakeWeChat,
    component: Component,
    shop: Account,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Push token, key, tickets, codes and every token of a platform's whole life: in no
    repr, error (str, repr, traceback, vars, pickle) or log record at DEBUG."""
    from tests.test_redaction import texts_of

    caplog.set_level(logging.DEBUG)
    store = Store()
    tenant = keyed_platform(wechat_fake, component, store, cache=LocMemCache("life", {}))
    ticket_push = wechat_fake.ticket_push(component)
    tenant.handle_push(**_arguments(ticket_push))
    url = tenant.authorization_url(REDIRECT_URI)
    authorized = tenant.handle_push(**_arguments(wechat_fake.authorized_push(component, shop)))
    code = authorized.authorization_code or ""
    authorization = tenant.complete_authorization(code)
    info = tenant.get_authorizer_info("wxshop")
    listings = list(tenant.iter_authorizers())
    tenant.client("wxshop").get_open_account()

    errors: List[BaseException] = []
    for attempt in (
        lambda: tenant.complete_authorization(code),  # used: 61009
        lambda: tenant.handle_push(**{**_arguments(ticket_push), "nonce": "other"}),
    ):
        with pytest.raises(wo.WeChatError) as caught:
            attempt()
        errors.append(caught.value)
    tenant.handle_push(**_arguments(wechat_fake.unauthorized_push(component, shop)))
    with pytest.raises(wo.AuthorizationRevokedError) as revoked:
        tenant.client("wxshop").get_open_account()
    errors.append(revoked.value)

    secrets = [component.push_token, component.encoding_aes_key, COMPONENT_SECRET, code]
    secrets += [*component.tickets, query_value(url, "pre_auth_code")]
    secrets += [r.token for r in wechat_fake.requests if r.token]
    secrets += [listing.refresh_token for listing in listings]
    secrets += [authorization.authorizer_refresh_token or "", info.authorizer_refresh_token or ""]
    texts = [repr(tenant), repr(authorized), repr(authorization), repr(info), repr(listings)]
    texts += [repr(tenant._tickets), repr(tenant._push_keys), repr(authorized.fields)]
    for error in errors:
        texts += texts_of(error)
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    for secret in secrets:
        assert secret
        for text in texts:
            assert secret not in text


REDIRECT_URI = "https://platform.example/wechat/authorized/"


def query_value(url: str, name: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)[name][0]


def test_a_ticket_push_from_the_future_is_stamped_now(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    """A CreateTime ahead of the clock would keep a ticket 'fresh' past its 12 hours."""
    now = wechat_fake.now()
    tenant = keyed_platform(wechat_fake, component, store, clock=lambda: now)
    wechat_fake.advance(3600)
    push = wechat_fake.ticket_push(component)  # CreateTime an hour ahead of the platform
    assert tenant.handle_push(**_arguments(push)).create_time.timestamp() > now
    held = tenant._tickets._newest
    assert held is not None
    assert held.received == now
