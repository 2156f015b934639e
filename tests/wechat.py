"""Test helpers that play WeChat Pay's part: signed, encrypted notifications built from sandbox keys."""
import functools
import json
import time
import uuid

from wechatpay_sandbox import crypto

from services.payment import order_attach
from tests.helpers import SECRET_KEY


@functools.lru_cache(maxsize=16)
def private_key(pem: bytes):
    """A PEM key loaded once: loading checks the RSA key, about 40 ms each time."""
    return crypto.load_private_key(pem)


def transaction_resource(order, keys, **changes):
    """A SUCCESS transaction for ``order`` as WeChat Pay would send it; ``changes`` override fields."""
    resource = {
        "mchid": keys.mchid, "appid": keys.appid, "out_trade_no": order.out_trade_no,
        "transaction_id": "4200000" + uuid.uuid4().hex[:21].upper(),
        "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
        "bank_type": "OTHERS", "attach": order_attach(order.token, SECRET_KEY),
        "success_time": "2026-11-27T20:00:00+08:00",
        "payer": {"openid": "oSandboxPayer"},
        "amount": {"total": order.total_fen, "payer_total": order.total_fen, "currency": "CNY",
                   "payer_currency": "CNY"},
    }
    resource.update(changes)
    return resource


def signed_notification(keys, resource, *, event_type="TRANSACTION.SUCCESS", notification_id=None,
                        timestamp=None, signing_key_path=None, raw_body=None, tamper_ciphertext=False, serial=None):
    """Return (headers, body bytes) of a notification signed with the sandbox platform key.

    ``serial`` is the Wechatpay-Serial header: the public key's id unless given (e.g. the certificate's).
    """
    if raw_body is None:
        nonce = crypto.random_nonce(12)
        associated = "refund" if event_type.startswith("REFUND.") else "transaction"
        ciphertext = crypto.aead_encrypt(keys.apiv3_key, nonce, json.dumps(resource, ensure_ascii=False), associated)
        if tamper_ciphertext:
            ciphertext = ("A" if ciphertext[0] != "A" else "B") + ciphertext[1:]
        envelope = {
            "id": notification_id or str(uuid.uuid4()), "create_time": "2026-11-27T20:00:00+08:00",
            "resource_type": "encrypt-resource", "event_type": event_type, "summary": "支付成功",
            "resource": {"original_type": associated, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                         "associated_data": associated, "nonce": nonce},
        }
        raw_body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = crypto.random_nonce(32)
    key = private_key((signing_key_path or keys.platform_private_key_path).read_bytes())
    headers = {
        "Content-Type": "application/json",
        "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": crypto.sign(key, crypto.response_message(timestamp, nonce, raw_body)),
        "Wechatpay-Serial": serial or keys.public_key_id, "Wechatpay-Signature-Type": crypto.SIGNATURE_TYPE,
    }
    return headers, raw_body
