"""Pure WeChat Pay API v3 crypto helpers: signatures, AEAD_AES_256_GCM, the Authorization header.

No Flask, no I/O: the sandbox, its tests and the shop's tests can all use these. Strings are encoded
as UTF-8; bodies may be given as bytes so that a signature covers exactly what went over the wire.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
SIGNATURE_TYPE = SCHEMA  # the value of Wechatpay-Signature-Type
AEAD_ALGORITHM = "AEAD_AES_256_GCM"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
AUTHORIZATION_ITEMS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
TIMESTAMP_WINDOW = 300  # seconds either side of now, as the official SDKs check

_ALNUM = string.ascii_letters + string.digits


class AuthorizationError(ValueError):
    """The Authorization header is missing or malformed."""


class DecryptError(ValueError):
    """AEAD decryption failed (wrong key, nonce, associated data, or tampered ciphertext)."""


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def random_nonce(length: int = 32) -> str:
    """Return a random string of ASCII letters and digits (a 12-char one is an AEAD nonce)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """Load an unencrypted PEM RSA private key (PKCS#8 or PKCS#1)."""
    key = serialization.load_pem_private_key(_bytes(pem), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from a PEM public key or a PEM X.509 certificate."""
    data = _bytes(pem)
    if b"BEGIN CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def request_message(method: str, target: str, timestamp: str | int, nonce: str,
                    body: str | bytes = b"") -> bytes:
    """Build the signed message of a request: METHOD\\nTARGET\\nTIMESTAMP\\nNONCE\\nBODY\\n."""
    head = f"{method.upper()}\n{target}\n{timestamp}\n{nonce}\n".encode("utf-8")
    return head + _bytes(body) + b"\n"


def response_message(timestamp: str | int, nonce: str, body: str | bytes = b"") -> bytes:
    """Build the signed message of a response or notification: TIMESTAMP\\nNONCE\\nBODY\\n."""
    return f"{timestamp}\n{nonce}\n".encode("utf-8") + _bytes(body) + b"\n"


def sign(private_key: rsa.RSAPrivateKey, message: str | bytes) -> str:
    """Return the base64 SHA256-with-RSA (PKCS#1 v1.5) signature of message."""
    raw = private_key.sign(_bytes(message), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(public_key: rsa.RSAPublicKey, message: str | bytes, signature: str) -> bool:
    """Return True if signature (base64) is a valid SHA256-with-RSA signature of message."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(raw, _bytes(message), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def aead_encrypt(key: str | bytes, nonce: str, plaintext: str | bytes,
                 associated_data: str = "") -> str:
    """Encrypt with AES-GCM as WeChat Pay does: base64(ciphertext || 16-byte tag)."""
    sealed = AESGCM(_bytes(key)).encrypt(_bytes(nonce), _bytes(plaintext), _bytes(associated_data))
    return base64.b64encode(sealed).decode("ascii")


def aead_decrypt(key: str | bytes, nonce: str, ciphertext: str, associated_data: str = "") -> str:
    """Decrypt a base64 AEAD_AES_256_GCM resource to text, or raise DecryptError."""
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
        plain = AESGCM(_bytes(key)).decrypt(_bytes(nonce), sealed, _bytes(associated_data or ""))
        return plain.decode("utf-8")
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise DecryptError(str(exc) or "authentication tag mismatch") from exc


_SCHEMA_RE = re.compile(r"^\s*(\S+)\s+(.*)$", re.S)
_ITEM_RE = re.compile(r'\s*([A-Za-z_]+)\s*=\s*"([^"]*)"\s*(?:,|$)')


def parse_authorization(header: str | None) -> dict[str, str]:
    """Parse `WECHATPAY2-SHA256-RSA2048 k="v",...` (items in any order) into a dict.

    Raises AuthorizationError unless the schema is right and each of the five items appears once.
    """
    if not header:
        raise AuthorizationError("missing Authorization header")
    match = _SCHEMA_RE.match(header)
    if not match or match.group(1) != SCHEMA:
        raise AuthorizationError("unsupported authorization schema")
    rest = match.group(2).strip()
    items: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        item = _ITEM_RE.match(rest, pos)
        if not item:
            raise AuthorizationError("malformed authorization item")
        name, value = item.group(1), item.group(2)
        if name in items:
            raise AuthorizationError(f"duplicate item {name}")
        items[name] = value
        pos = item.end()
    missing = [name for name in AUTHORIZATION_ITEMS if not items.get(name)]
    if missing:
        raise AuthorizationError("missing " + ", ".join(missing))
    return items


def build_authorization(private_key: rsa.RSAPrivateKey, *, mchid: str, serial_no: str,
                        method: str, target: str, timestamp: str | int, nonce: str,
                        body: str | bytes = b"") -> str:
    """Return an Authorization header value signing this request (used by tests and tools)."""
    signature = sign(private_key, request_message(method, target, timestamp, nonce, body))
    return (f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
            f'serial_no="{serial_no}",signature="{signature}"')


def timestamp_fresh(timestamp: str | int, now: float, window: int = TIMESTAMP_WINDOW) -> bool:
    """Return True if timestamp (unix seconds) is within window seconds of now."""
    try:
        value = int(str(timestamp))
    except ValueError:
        return False
    return abs(now - value) <= window


def probe_signature() -> str:
    """Return a deliberately invalid signature like WeChat Pay's signature probes."""
    return PROBE_PREFIX + base64.b64encode(secrets.token_bytes(256)).decode("ascii")
