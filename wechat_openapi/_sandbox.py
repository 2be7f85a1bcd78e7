"""The demo data behind ``wechat-openapi --sandbox``: a fake WeChat with something to find.

Names, AppSecrets and rids are fixed so the README can show commands that work as written.
Every ``--sandbox`` run starts a fresh fake seeded the same way. ``serve --seed demo`` adds a
third-party platform (``seed_demo_component``), whose keys are fixed too; its ticket and
refresh tokens are new each run, and printed.
"""

from __future__ import annotations

from .models import AuditStatus
from .testing import RID_LIFETIME, Component, FakeWeChat

DEMO_TOKEN = "sandbox-demo-token"  # the bound account's; used when no token is given
UNBOUND_TOKEN = "sandbox-unbound-token"  # pass it in a --token-file to act as that account
DEMO_APPID = "wxdemo0000000001"
UNBOUND_APPID = "wxdemo0000000002"
DEMO_OPEN_APPID = "wxopen000000demo"
DEMO_SECRET = "sandbox-demo-secret"  # the AppSecret, for stable_token and clear_quota/v2
UNBOUND_SECRET = "sandbox-unbound-secret"

DEMO_COMPONENT_APPID = "wxdemo00000000c1"
DEMO_COMPONENT_SECRET = "sandbox-component-secret"
DEMO_PUSH_TOKEN = "sandbox-push-token"
DEMO_ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # WeChat's sample key
DEMO_AUTHORIZERS = ("wxdemo00000000a1", "wxdemo00000000a2")  # accounts that authorized it

QUOTA_RID = "617682e0-09059ac5-34a8e2ea"  # a quota error of yesterday's
QUOTA_PATH = "/cgi-bin/message/template/send"  # the API it was for: its quota is used up
SENT_RID = "617682e0-1a2b3c4d-5e6f7a8b"  # a successful custom-service message an hour ago
EXPIRED_RID = "5f5e1000-0badc0de-00000001"  # eight days old: 76004
FOREIGN_RID = "61768300-0badc0de-00000002"  # the unbound account's: 76003 for the demo token
SNS_RID = "61768400-0badc0de-00000003"  # from an /sns/ interface: 76022

PENDING_AUDIT, REJECTED_AUDIT, APPROVED_AUDIT = 1001, 1002, 1003

HOUR = 3600


DEMO_DATA = f"""\
accounts (token: appid, open appid, AppSecret):
  {DEMO_TOKEN}: {DEMO_APPID}, bound to {DEMO_OPEN_APPID}, AppSecret {DEMO_SECRET}
  {UNBOUND_TOKEN}: {UNBOUND_APPID}, not bound (89002), AppSecret {UNBOUND_SECRET}
rids (look them up with the first token):
  {QUOTA_RID}  a quota error (45009) of yesterday's
  {SENT_RID}  a custom-service message an hour ago
  {EXPIRED_RID}  eight days old (76004)
  {FOREIGN_RID}  the unbound account's (76003)
  {SNS_RID}  an /sns/ interface's (76022)
quotas of the first account:
  {QUOTA_PATH}  used up (100000 of 100000): 45009
nickname audits of the first account:
  {PENDING_AUDIT} pending, {REJECTED_AUDIT} rejected, {APPROVED_AUDIT} approved"""


def start_sandbox() -> FakeWeChat:
    """Start a fake WeChat on 127.0.0.1 and seed it with the demo data."""
    return seed_demo(FakeWeChat().start())


def seed_demo(fake: FakeWeChat) -> FakeWeChat:
    """Seed ``fake`` with the demo data that DEMO_DATA describes."""
    now = fake.now()
    demo = fake.add_account(
        DEMO_APPID, token=DEMO_TOKEN, open_appid=DEMO_OPEN_APPID, secret=DEMO_SECRET
    )
    unbound = fake.add_account(UNBOUND_APPID, token=UNBOUND_TOKEN, secret=UNBOUND_SECRET)
    fake.add_rid(
        demo,
        rid=QUOTA_RID,
        path=QUOTA_PATH,
        invoke_time=now - 24 * HOUR,
        cost_in_ms=31,
        request_url="access_token=ACCESS_TOKEN&",
        request_body='{"touser":"oUser0001","template_id":"tpl-welcome","data":{}}',
        response_body=(
            '{"errcode":45009,"errmsg":"reach max api daily quota limit rid: ' + QUOTA_RID + '"}'
        ),
        client_ip="203.0.113.7",
    )
    fake.add_rid(
        demo,
        rid=SENT_RID,
        path="/cgi-bin/message/custom/send",
        invoke_time=now - HOUR,
        cost_in_ms=87,
        request_url="access_token=ACCESS_TOKEN&",
        request_body='{"touser":"oUser0001","msgtype":"text","text":{"content":"你好"}}',
        response_body='{"errcode":0,"errmsg":"ok"}',
        client_ip="203.0.113.7",
    )
    fake.set_quota(
        demo, QUOTA_PATH, daily_limit=100_000, used=100_000, rate_limit=(2_000, 60)
    )  # what QUOTA_RID ran into
    fake.add_rid(demo, rid=EXPIRED_RID, invoke_time=now - RID_LIFETIME - 24 * HOUR)
    fake.add_rid(unbound, rid=FOREIGN_RID, invoke_time=now - 2 * HOUR)
    fake.add_rid(demo, rid=SNS_RID, path="/sns/jscode2session", invoke_time=now - 3 * HOUR)
    fake.add_nickname_audit(demo, "演示小程序", audit_id=PENDING_AUDIT, create_time=now - HOUR)
    fake.add_nickname_audit(
        demo,
        "Demo Shop Official",
        audit_id=REJECTED_AUDIT,
        audit_stat=AuditStatus.REJECTED,
        fail_reason="The name is too close to a registered trademark",
        create_time=now - 48 * HOUR,
        audit_time=now - 30 * HOUR,
    )
    fake.add_nickname_audit(
        demo,
        "Demo Shop",
        audit_id=APPROVED_AUDIT,
        audit_stat=AuditStatus.APPROVED,
        create_time=now - 72 * HOUR,
        audit_time=now - 60 * HOUR,
    )
    return fake


def seed_demo_component(fake: FakeWeChat) -> Component:
    """Seed ``fake`` with the demo platform: fixed keys, a ticket, and DEMO_AUTHORIZERS."""
    return fake.seed_component(
        DEMO_COMPONENT_APPID,
        authorizers=DEMO_AUTHORIZERS,
        secret=DEMO_COMPONENT_SECRET,
        push_token=DEMO_PUSH_TOKEN,
        encoding_aes_key=DEMO_ENCODING_AES_KEY,
    )
