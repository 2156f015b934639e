"""Generate and load the sandbox's keys and ids (merchant + platform RSA pairs, APIv3 key, AppSecret, mchid...).

The folder is a contract with merchant code (README, "The key folder"): fixed file names, and
`ids.json` written last, so its presence means the folder is complete. Files are written to a temp
file and moved into place (readers never see half a key); an flock on `.lock` makes two processes
starting at once generate each thing only once.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import string
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MERCHANT_KEY = "merchant_key.pem"
MERCHANT_PUBLIC_KEY = "merchant_public_key.pem"
PLATFORM_KEY = "platform_key.pem"
PLATFORM_PUBLIC_KEY = "platform_public_key.pem"
PLATFORM_CERT = "platform_cert.pem"
APIV3_KEY = "apiv3_key"
APP_SECRET = "app_secret"  # the official account's AppSecret (web OAuth)
IDS = "ids.json"
CERT_VALIDITY = timedelta(days=5 * 365)


@dataclass(frozen=True)
class SandboxKeys:
    directory: Path
    mchid: str
    appid: str
    merchant_serial_no: str
    public_key_id: str
    platform_cert_serial: str
    apiv3_key: str
    app_secret: str

    @property
    def merchant_private_key_path(self) -> Path:
        return self.directory / MERCHANT_KEY

    @property
    def merchant_public_key_path(self) -> Path:
        return self.directory / MERCHANT_PUBLIC_KEY

    @property
    def platform_private_key_path(self) -> Path:
        return self.directory / PLATFORM_KEY

    @property
    def platform_public_key_path(self) -> Path:
        return self.directory / PLATFORM_PUBLIC_KEY

    @property
    def platform_cert_path(self) -> Path:
        return self.directory / PLATFORM_CERT


def ensure_keys(directory: str | os.PathLike) -> SandboxKeys:
    """Create whatever key files are missing in directory and return them all (idempotent)."""
    path = Path(directory).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    with _locked(path):
        _ensure_key_pair(path, MERCHANT_KEY, MERCHANT_PUBLIC_KEY)
        _ensure_key_pair(path, PLATFORM_KEY, PLATFORM_PUBLIC_KEY)
        cert = _ensure_cert(path)
        if not (path / APIV3_KEY).exists():
            _write(path / APIV3_KEY, _random_text(string.ascii_letters + string.digits, 32))
        if not (path / APP_SECRET).exists():
            _write(path / APP_SECRET, secrets.token_hex(16))  # 32 hex digits, like a real AppSecret
        ids = _ensure_ids(path, cert)  # last: its presence means the folder is complete
        for name in (MERCHANT_KEY, MERCHANT_PUBLIC_KEY, PLATFORM_KEY, PLATFORM_PUBLIC_KEY,
                     PLATFORM_CERT, APIV3_KEY, APP_SECRET, IDS):
            os.chmod(path / name, 0o600)
    return SandboxKeys(
        directory=path,
        mchid=ids["mchid"],
        appid=ids["appid"],
        merchant_serial_no=ids["merchant_serial_no"],
        public_key_id=ids["public_key_id"],
        platform_cert_serial=ids["platform_cert_serial"],
        apiv3_key=(path / APIV3_KEY).read_text(encoding="ascii").strip(),
        app_secret=(path / APP_SECRET).read_text(encoding="ascii").strip(),
    )


@contextmanager
def _locked(path: Path):
    fd = os.open(path / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write(target: Path, text: str) -> None:
    """Write text to target atomically with mode 0600."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def _ensure_key_pair(path: Path, private_name: str, public_name: str) -> None:
    # Loading a private key validates it, which is slow: only do it when something is missing.
    private_path, public_path = path / private_name, path / public_name
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        _write(private_path, pem.decode("ascii"))
        _write(public_path, _public_pem(key))  # a stale public half must not survive
    elif not public_path.exists():
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        _write(public_path, _public_pem(key))


def _ensure_cert(path: Path) -> x509.Certificate:
    cert_path = path / PLATFORM_CERT
    public_pem = (path / PLATFORM_PUBLIC_KEY).read_bytes()
    if cert_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) == public_pem:
            return cert
    key = serialization.load_pem_private_key((path / PLATFORM_KEY).read_bytes(), password=None)
    now = datetime.now(timezone.utc)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "WeChat Pay Sandbox"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Sandbox Platform Certificate"),
    ])
    # 40 uppercase hex digits like real platform serials (the SDK compares them as integers).
    serial = secrets.randbits(159) | (1 << 156)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + CERT_VALIDITY)
            .sign(key, hashes.SHA256()))
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))
    return cert


def _ensure_ids(path: Path, cert: x509.Certificate) -> dict[str, str]:
    ids_path = path / IDS
    ids = json.loads(ids_path.read_text(encoding="utf-8")) if ids_path.exists() else {}
    wanted = {
        "mchid": lambda: "19" + _random_text(string.digits, 8),
        "appid": lambda: "wx" + secrets.token_hex(8),
        "merchant_serial_no": lambda: secrets.token_hex(20).upper(),
        "public_key_id": lambda: "PUB_KEY_ID_" + _random_text(string.digits, 32),
    }
    changed = False
    for name, make in wanted.items():
        if not ids.get(name):
            ids[name] = make()
            changed = True
    cert_serial = format(cert.serial_number, "X")
    if ids.get("platform_cert_serial") != cert_serial:
        ids["platform_cert_serial"] = cert_serial
        changed = True
    if changed or not ids_path.exists():
        _write(ids_path, json.dumps(ids, indent=2) + "\n")
    return ids
