"""The sandbox's crypto helpers against the official SDKs' published vectors (tests/vectors/)."""

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from freezegun import freeze_time

from wechatpay_sandbox import crypto

VECTORS = Path(__file__).resolve().parent / "vectors"


def load(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def flip(text: str, index: int = 0) -> str:
    """Change one character (kept inside the base64 alphabet)."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1:]


def vector_private_key_pem() -> str:
    """The vector's private key, stored as wechatpay-go stores it (PEM label TESTING KEY) so that no
    private-key header sits in the repository; the label is put back here."""
    return (VECTORS / "rsa_test_private_key.pem").read_text().replace("TESTING KEY", "PRIVATE KEY")


@pytest.fixture(scope="module")
def rsa_vector():
    vector = load("rsa_sign.json")
    private_key = crypto.load_private_key(vector_private_key_pem())
    public_key = crypto.load_public_key((VECTORS / vector["public_key_file"]).read_bytes())
    return vector, private_key, public_key


def test_rsa_signature_matches_vector(rsa_vector):
    vector, private_key, public_key = rsa_vector
    expected = vector["signature_sha256_rsa_pkcs1v15_base64"]
    assert crypto.sign(private_key, vector["message"]) == expected
    assert crypto.verify(public_key, vector["message"], expected)


@pytest.mark.parametrize("break_it", ["message", "signature", "key", "not_base64"])
def test_rsa_verify_rejects_changes(rsa_vector, break_it):
    vector, _, public_key = rsa_vector
    message, signature = vector["message"], vector["signature_sha256_rsa_pkcs1v15_base64"]
    if break_it == "message":
        message = "sourcf"
    elif break_it == "signature":
        signature = flip(signature, 10)
    elif break_it == "key":
        public_key = crypto.load_private_key(_other_key_pem()).public_key()
    else:
        signature = "!!not base64!!"
    assert not crypto.verify(public_key, message, signature)


def _other_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_vector_public_key_is_the_certificate_key(rsa_vector):
    _, _, public_key = rsa_vector
    cert_key = crypto.load_public_key((VECTORS / "platform_test_certificate.pem").read_bytes())
    assert cert_key.public_numbers() == public_key.public_numbers()


@pytest.mark.parametrize("vector", load("aead_aes_gcm.json"), ids=lambda v: v["nonce"])
def test_aead_decrypts_vectors(vector):
    plain = crypto.aead_decrypt(vector["key"], vector["nonce"], vector["ciphertext_base64"],
                                vector["associated_data"])
    assert plain == vector["plaintext"]
    # Encryption is deterministic for a given key and nonce: it must give the same ciphertext back.
    assert crypto.aead_encrypt(vector["key"], vector["nonce"], vector["plaintext"],
                               vector["associated_data"]) == vector["ciphertext_base64"]


@pytest.mark.parametrize("vector", load("aead_aes_gcm.json"), ids=lambda v: v["nonce"])
@pytest.mark.parametrize("break_it", ["ciphertext", "nonce", "associated_data", "key"])
def test_aead_rejects_changes(vector, break_it):
    key, nonce = vector["key"], vector["nonce"]
    ciphertext, associated = vector["ciphertext_base64"], vector["associated_data"]
    if break_it == "ciphertext":
        raw = bytearray(base64.b64decode(ciphertext))
        raw[0] ^= 1
        ciphertext = base64.b64encode(bytes(raw)).decode()
    elif break_it == "nonce":
        nonce = flip(nonce)
    elif break_it == "associated_data":
        associated = associated + "x"
    else:
        key = flip(key)
    with pytest.raises(crypto.DecryptError):
        crypto.aead_decrypt(key, nonce, ciphertext, associated)


def test_certificates_response_decrypts_to_the_named_certificate():
    vector = load("certificates_response.json")
    entry = json.loads(vector["response_body"])["data"][0]
    sealed = entry["encrypt_certificate"]
    pem = crypto.aead_decrypt(vector["apiv3_key"], sealed["nonce"], sealed["ciphertext"],
                              sealed["associated_data"])
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert format(cert.serial_number, "X") == vector["expected_certificate_serial_hex"] == entry["serial_no"]
    assert cert.not_valid_before_utc.date().isoformat() == "2023-09-19"
    assert cert.not_valid_after_utc.date().isoformat() == "2028-09-17"


def test_certificates_response_rejects_a_wrong_apiv3_key():
    vector = load("certificates_response.json")
    sealed = json.loads(vector["response_body"])["data"][0]["encrypt_certificate"]
    with pytest.raises(crypto.DecryptError):
        crypto.aead_decrypt(flip(vector["apiv3_key"]), sealed["nonce"], sealed["ciphertext"],
                            sealed["associated_data"])


@pytest.fixture(scope="module")
def notification():
    vector = load("notification.json")
    public_key = crypto.load_public_key((VECTORS / vector["certificate_file"]).read_bytes())
    return vector, public_key


def _verify_notification(public_key, headers, body) -> bool:
    message = crypto.response_message(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], body)
    return crypto.verify(public_key, message, headers["Wechatpay-Signature"])


def test_notification_signature_and_resource(notification):
    vector, public_key = notification
    assert _verify_notification(public_key, vector["headers"], vector["body"])
    resource = json.loads(vector["body"])["resource"]
    plain = crypto.aead_decrypt(vector["apiv3_key"], resource["nonce"], resource["ciphertext"],
                                resource["associated_data"])
    assert plain == vector["expected_resource_plaintext"]
    cert = x509.load_pem_x509_certificate((VECTORS / vector["certificate_file"]).read_bytes())
    assert format(cert.serial_number, "X") == vector["certificate_serial"]


@pytest.mark.parametrize("field", ["body", "Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce"])
def test_notification_rejects_one_changed_byte(notification, field):
    vector, public_key = notification
    headers, body = dict(vector["headers"]), vector["body"]
    if field == "body":
        body = body.replace("签约成功", "签约失败")
    elif field == "Wechatpay-Timestamp":
        headers[field] = str(int(headers[field]) + 1)
    else:
        headers[field] = flip(headers[field], 5)
    assert not _verify_notification(public_key, headers, body)


def test_notification_rejected_with_another_key(notification):
    vector, _ = notification
    other = crypto.load_private_key(_other_key_pem()).public_key()
    assert not _verify_notification(other, vector["headers"], vector["body"])


def test_notification_rejects_tampered_ciphertext(notification):
    vector, _ = notification
    resource = json.loads(vector["body"])["resource"]
    with pytest.raises(crypto.DecryptError):
        crypto.aead_decrypt(vector["apiv3_key"], resource["nonce"], flip(resource["ciphertext"], 3),
                            resource["associated_data"])


def test_notification_replay_window(notification):
    """Its real 2021 timestamp is stale now, and fresh when the clock is frozen at that moment."""
    vector, _ = notification
    timestamp = int(vector["headers"]["Wechatpay-Timestamp"])
    assert not crypto.timestamp_fresh(timestamp, datetime.now(timezone.utc).timestamp())
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    with freeze_time(moment):
        import time

        assert crypto.timestamp_fresh(timestamp, time.time())
    assert crypto.timestamp_fresh(timestamp, timestamp + 300)
    assert not crypto.timestamp_fresh(timestamp, timestamp + 301)
    assert not crypto.timestamp_fresh(timestamp, timestamp - 301)


def test_sdk_accepts_the_vector_notification_only_with_signature_type(notification):
    """The unmodified SDK's callback() against the vector, in public-key mode (as the doc describes)."""
    from wechatpayv3 import WeChatPay, WeChatPayType

    vector, _ = notification
    client = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE, mchid="1234567890", cert_serial_no="X",
        private_key=vector_private_key_pem(), appid="wx",
        apiv3_key=vector["apiv3_key"], public_key=(VECTORS / "rsa_test_public_key.pem").read_text(),
        public_key_id=vector["certificate_serial"])
    with pytest.raises(Exception, match="does not support this algorithm"):
        client.callback(vector["headers"], vector["body"])
    headers = {**vector["headers"], "Wechatpay-Signature-Type": crypto.SIGNATURE_TYPE}
    data = client.callback(headers, vector["body"])
    assert data["resource"] == json.loads(vector["expected_resource_plaintext"])


AUTH = ('WECHATPAY2-SHA256-RSA2048 mchid="1900007291",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
        'signature="uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc'
        '6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl'
        '7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLs'
        'IkVxFJ8XmaNJHJ9sAIrpFJeCCSgIa7pk8I9Mo0dxWtMTtXJ1iz3kSg==",timestamp="1554208460",'
        'serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"')


def test_parse_authorization_official_example():
    items = crypto.parse_authorization(AUTH)
    assert items["mchid"] == "1900007291"
    assert items["timestamp"] == "1554208460"
    assert items["serial_no"] == "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
    assert items["signature"].endswith("==")


def test_parse_authorization_any_order():
    scheme, rest = AUTH.split(" ", 1)
    reordered = scheme + " " + ",".join(reversed(rest.split(",")))
    assert crypto.parse_authorization(reordered) == crypto.parse_authorization(AUTH)


@pytest.mark.parametrize("header", [
    None, "", "Bearer abc", AUTH.replace("WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SM2-WITH-SM3"),
    AUTH.replace('mchid="1900007291",', ""), AUTH + ',mchid="1"', AUTH.replace('"1554208460"', "1554208460"),
])
def test_parse_authorization_rejects(header):
    with pytest.raises(crypto.AuthorizationError):
        crypto.parse_authorization(header)


def test_request_message_layout():
    assert crypto.request_message("get", "/v3/certificates", 1554208460, "N", b"") == \
        b"GET\n/v3/certificates\n1554208460\nN\n\n"
    assert crypto.response_message("1", "N", "{}") == b"1\nN\n{}\n"
