"""Alerts for the owner: written to the outbox with the event, sent by the jobs process through a WeCom group
robot (a local HTTP receiver here) and SMTP (a local aiosmtpd server), retried with back-off, each attempt
recorded; a failing channel never touches payment handling; a crash can repeat one message at most."""
import datetime as dt
import json
import ssl
import threading
import time
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.vocabulary import AlertKind
from extensions import db
from jobs.alerts import send_alerts
from jobs.claims import claim
from models import Outbox, OutboxAttempt, Refund
from payments import RefundResult
from services import alerts
from services.refunds import apply_refund_result
from tests.helpers import csrf, flashes, free_port, order_row, wait_for


class Receiver:
    """A WeCom robot stand-in on 127.0.0.1: records every POST, answers ``answer`` after ``delay`` seconds."""

    def __init__(self):
        self.requests, self.answer, self.status, self.delay = [], {"errcode": 0, "errmsg": "ok"}, 200, 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
                time.sleep(receiver.delay)
                data = json.dumps(receiver.answer).encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key=test-key"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def contents(self):
        return [body["markdown"]["content"] for _, _, body in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(app):
    receiver = Receiver()
    app.config["ALERT_WECOM_WEBHOOK_URL"] = receiver.url
    yield receiver
    receiver.stop()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def start_smtp(mailbox, **kwargs):
    from aiosmtpd.controller import Controller

    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def smtp(app):
    mailbox = Mailbox()
    controller = start_smtp(mailbox)
    app.config.update(ALERT_SMTP_HOST="127.0.0.1", ALERT_SMTP_PORT=controller.port, ALERT_SMTP_SECURITY="none",
                      ALERT_SMTP_FROM="shop@example.cn", ALERT_SMTP_TO="boss@example.cn, clerk@example.cn")
    yield mailbox
    controller.stop()


def subject(message):
    return str(make_header(decode_header(message["Subject"])))


def outbox(app):
    with app.app_context():
        return [(row.kind, row.channel, row.status, row.attempts) for row in
                db.session.scalars(select(Outbox).order_by(Outbox.id))]


def attempts(app):
    with app.app_context():
        rows = db.session.scalars(select(OutboxAttempt).order_by(OutboxAttempt.id))
        return [(a.outbox_id, a.ok, a.error) for a in rows]


def enqueue(app, kind=AlertKind.ORDER_PAID, order_id=None, now=None):
    with app.app_context():
        count = alerts.enqueue(kind, order_id, now=now or utcnow(), message=None)
        db.session.commit()
        return count


def run_job(app, now=None):
    with app.app_context():
        return send_alerts(now or utcnow())


# -- off by default, same transaction -----------------------------------------------------------------

def test_alerts_are_off_until_a_channel_is_configured(app, make_order):
    order = make_order()
    assert enqueue(app, order_id=order.id) == 0
    assert outbox(app) == []
    assert run_job(app).checked == 0


def test_an_alert_exists_only_if_its_event_committed(app, webhook, make_order):
    order = make_order()
    with app.app_context():
        alerts.enqueue(AlertKind.ORDER_PAID, order.id)
        db.session.rollback()  # the event failed: its alert goes with it
    assert outbox(app) == []


# -- sending ------------------------------------------------------------------------------------------

def test_a_new_order_alert_goes_to_the_wecom_robot_and_by_email(app, webhook, smtp, make_order):
    app.config["ALERT_LINK_BASE_URL"] = "https://shop.example.cn"
    order = make_order(price_fen=5800, quantity=2)
    assert enqueue(app, order_id=order.id) == 2

    summary = run_job(app)

    assert (summary.checked, summary.settled, summary.errors) == (2, 2, 0)
    assert outbox(app) == [("order_paid", "wecom", "sent", 1), ("order_paid", "email", "sent", 1)]
    [(path, content_type, body)] = webhook.requests
    assert path == "/cgi-bin/webhook/send?key=test-key" and content_type == "application/json"
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith("**【小满杂货铺】新订单已支付 ¥116.00**")
    assert f"订单号：{order.out_trade_no}" in content and "订单商品×2" in content and "手机尾号 8000" in content
    assert f"[在后台查看](https://shop.example.cn/admin/orders/{order.id})" in content
    assert "13800138000" not in content  # the whole mobile number stays in the shop

    [(sender, recipients, mail)] = smtp.messages
    assert sender == "shop@example.cn" and recipients == ["boss@example.cn", "clerk@example.cn"]
    assert subject(mail) == "【小满杂货铺】新订单已支付 ¥116.00"
    assert mail["Message-ID"] == "<shop-alert-2@example.cn>"
    text = mail.get_payload(decode=True).decode()
    assert order.out_trade_no in text and "提醒编号：#2" in text
    assert run_job(app).checked == 0  # sent rows are never sent again


def test_a_wecom_errcode_is_a_failure_retried_with_back_off_and_every_attempt_recorded(app, webhook, make_order):
    order = make_order()
    now = utcnow()
    enqueue(app, order_id=order.id, now=now)
    webhook.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}

    summary = run_job(app, now)

    assert (summary.settled, summary.errors) == (0, 1)
    assert outbox(app) == [("order_paid", "wecom", "pending", 1)]
    assert attempts(app) == [(1, False, "企业微信拒绝：errcode 93000 invalid webhook url")]
    assert run_job(app, now + timedelta(seconds=59)).checked == 0  # not due before the first back-off (1 min)
    webhook.answer = {"errcode": 0, "errmsg": "ok"}
    assert run_job(app, now + timedelta(minutes=1)).settled == 1
    assert outbox(app) == [("order_paid", "wecom", "sent", 2)]
    assert [ok for _, ok, _ in attempts(app)] == [False, True]
    assert len(webhook.requests) == 2


def test_after_the_last_attempt_an_alert_is_given_up_and_the_owner_can_retry_it(app, owner_client, webhook,
                                                                                make_order):
    app.config.update(ALERT_MAX_ATTEMPTS=2, ALERT_BACKOFF_MINUTES="1")
    webhook.status = 502
    order = make_order()
    now = utcnow()
    enqueue(app, order_id=order.id, now=now)
    run_job(app, now)
    run_job(app, now + timedelta(minutes=1))
    assert outbox(app) == [("order_paid", "wecom", "failed", 2)]
    assert run_job(app, now + timedelta(hours=1)).checked == 0

    page = owner_client.get("/admin/alerts").get_data(as_text=True)
    assert "发送失败，已放弃" in page and "企业微信返回 HTTP 502" in page and order.out_trade_no in page
    webhook.status = 200
    response = owner_client.post("/admin/alerts/1/retry", data={"csrf_token": csrf(owner_client, "/admin/alerts")},
                                 follow_redirects=True)
    assert "已安排重新发送。" in flashes(response.get_data(as_text=True))
    run_job(app)
    assert outbox(app) == [("order_paid", "wecom", "sent", 1)]


def test_a_hanging_robot_times_out_without_holding_anything(app, webhook, make_order):
    app.config["ALERT_TIMEOUT_SECONDS"] = 0.5
    webhook.delay = 3
    order = make_order()
    enqueue(app, order_id=order.id)
    started = time.monotonic()
    run_job(app)
    assert time.monotonic() - started < 2.5
    assert attempts(app) == [(1, False, "企业微信无应答（超时）")]


def test_a_crash_between_sending_and_recording_repeats_the_message_once_at_most(app, webhook, make_order):
    order = make_order()
    now = utcnow()
    enqueue(app, order_id=order.id, now=now)
    with app.app_context():  # a jobs process claims the row, sends it, and dies before recording
        claimed = claim(Outbox, [Outbox.status == "pending"], at=now, lease=timedelta(seconds=120), limit=1)
        assert claimed.ids == [1]
        assert alerts.deliver(1).ok
    assert run_job(app, now + timedelta(seconds=60)).checked == 0  # still leased: nobody sends it again
    assert run_job(app, now + timedelta(seconds=121)).settled == 1  # the lease ran out: sent again, recorded
    assert run_job(app, now + timedelta(hours=1)).checked == 0
    contents = webhook.contents()
    assert len(contents) == 2 and contents[0] == contents[1] and "提醒编号：#1" in contents[0]


# -- the events -----------------------------------------------------------------------------------------

def test_a_failed_refund_alerts_the_owner_in_the_same_transaction(app, webhook, make_order):
    order = make_order()
    with app.app_context():
        refund = Refund(order_id=order.id, out_refund_no="R-TEST-1", amount_fen=order.total_fen, status="PROCESSING")
        db.session.add(refund)
        db.session.flush()
        apply_refund_result(refund, RefundResult(out_refund_no="R-TEST-1", status="ABNORMAL", refund_fen=1234),
                            utcnow())
        db.session.commit()
    run_job(app)
    [content] = webhook.contents()
    assert "退款失败 ¥12.34" in content and "R-TEST-1（退款异常）" in content


@pytest.mark.wechatpay
def test_a_paid_order_is_alerted_by_the_notification_that_paid_it_while_the_robot_hangs(app, webhook, paid):
    webhook.delay = 5  # the robot never answers in time: payment handling must not notice
    started = time.monotonic()
    order = paid(price_fen=2599)
    assert time.monotonic() - started < 5
    assert webhook.requests == []  # nothing left the shop during payment handling
    assert outbox(app) == [("order_paid", "wecom", "pending", 0)]
    with app.app_context():
        payload = json.loads(db.session.scalar(select(Outbox.payload)))
    assert payload["out_trade_no"] == order.out_trade_no and payload["total_fen"] == 2599


@pytest.mark.wechatpay
def test_a_payment_after_close_without_stock_alerts_paid_and_attention(app, webhook, make_order):
    """WeChat Pay confirms a payment for an order the shop had closed, and its last unit is gone meanwhile."""
    from models import Order, PaymentAttempt, Product
    from payments import Transaction, get_gateway
    from services.payment import apply_transaction, release_stock

    order = make_order(stock=1)
    with app.app_context():
        db.session.execute(db.update(Order).where(Order.id == order.id).values(status="closed", closed_at=utcnow()))
        release_stock(order.id)
        db.session.get(Product, order.product_id).stock = 0  # the unit it gave back was sold again
        db.session.commit()
        gateway = get_gateway()
        txn = Transaction(out_trade_no=order.out_trade_no, trade_state="SUCCESS", mchid=gateway.mchid,
                          appid=gateway.appid, total_fen=order.total_fen, currency="CNY", transaction_id="4200001")
        attempt = db.session.scalar(db.select(PaymentAttempt).filter_by(out_trade_no=order.out_trade_no))
        assert apply_transaction(attempt, txn, utcnow()) == "paid"
        db.session.commit()
    assert order_row(app, order.id).attention.startswith("关闭后收到付款，库存不足")
    assert sorted(kind for kind, *_ in outbox(app)) == ["attention", "order_paid"]
    run_job(app)
    assert any("订单需处理" in content and "库存不足" in content for content in webhook.contents())


# -- the owner's page ---------------------------------------------------------------------------------

def test_the_test_button_says_when_no_channel_is_on_and_sends_when_one_is(app, owner_client, smtp):
    token = csrf(owner_client, "/admin/alerts")
    response = owner_client.post("/admin/alerts/test", data={"csrf_token": token}, follow_redirects=True)
    assert "测试提醒已排队（1 个渠道）" in flashes(response.get_data(as_text=True))[0]
    run_job(app)
    [(_, _, mail)] = smtp.messages
    assert subject(mail) == "【小满杂货铺】测试提醒" and "店主 owner" in mail.get_payload(decode=True).decode()
    page = owner_client.get("/admin/alerts").get_data(as_text=True)
    assert "已发送" in page and "邮件" in page and "boss@example.cn" in page

    app.config["ALERT_SMTP_HOST"] = None
    refused = owner_client.post("/admin/alerts/test", data={"csrf_token": token}, follow_redirects=True)
    assert "还没有开启任何提醒渠道" in flashes(refused.get_data(as_text=True))[0]


# -- SMTP with TLS and a login ------------------------------------------------------------------------

def self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_smtp_over_tls_logs_in_with_the_password_from_its_file(app, tmp_path, make_order, security):
    from aiosmtpd.smtp import AuthResult

    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == b"shop@qq.com" and auth_data.password == b"sq-code"
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    mailbox = Mailbox()
    # aiosmtpd counts a STARTTLS session as TLS for auth_require_tls, but not an implicit TLS connection.
    options = {"tls_context": context, "require_starttls": True, "auth_require_tls": True} \
        if security == "starttls" else {"ssl_context": context, "auth_require_tls": False}
    controller = start_smtp(mailbox, authenticator=authenticator, **options)
    try:
        (tmp_path / "smtp_password").write_text("sq-code\n")
        app.config.update(ALERT_SMTP_HOST="127.0.0.1", ALERT_SMTP_PORT=controller.port, ALERT_SMTP_SECURITY=security,
                          ALERT_SMTP_USER="shop@qq.com", ALERT_SMTP_PASSWORD_FILE=str(tmp_path / "smtp_password"),
                          ALERT_SMTP_TO="boss@example.cn", ALERT_SMTP_CA_FILE=str(cert_file))
        enqueue(app, order_id=make_order().id)
        assert run_job(app).settled == 1
        wait_for(lambda: mailbox.messages)
        assert logins == [(b"shop@qq.com", b"sq-code")]
        assert mailbox.messages[0][0] == "shop@qq.com"

        (tmp_path / "smtp_password").write_text("wrong\n")
        enqueue(app, order_id=make_order().id)
        run_job(app)
        assert attempts(app)[-1][1:] == (False,
                                         "邮件服务器拒绝登录：检查 ALERT_SMTP_USER 和密码（QQ、163 邮箱要用授权码）")
    finally:
        controller.stop()
    with app.app_context():
        assert db.session.scalar(select(func.count(Outbox.id))) == 2
