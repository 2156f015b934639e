"""Keys and ids on first start: what is generated, only what is missing, and concurrent first starts."""

import json
import re
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509

from wechatpay_sandbox import crypto
from wechatpay_sandbox.keys import SandboxKeys, ensure_keys

FILES = ("merchant_key.pem", "merchant_public_key.pem", "platform_key.pem", "platform_public_key.pem",
         "platform_cert.pem", "apiv3_key", "app_secret", "ids.json")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(directory: Path) -> dict:
    return {name: (directory / name).read_bytes() for name in FILES}


def test_first_start_generates_everything(tmp_path):
    directory = tmp_path / "instance" / "wechatpay"
    keys = ensure_keys(directory)
    assert isinstance(keys, SandboxKeys) and keys.directory == directory
    assert mode(directory) == 0o700
    for name in FILES:
        assert mode(directory / name) == 0o600, name

    assert re.fullmatch(r"19\d{8}", keys.mchid)
    assert re.fullmatch(r"wx[0-9a-f]{16}", keys.appid)
    assert re.fullmatch(r"[0-9A-F]{40}", keys.merchant_serial_no)
    assert re.fullmatch(r"PUB_KEY_ID_\d{32}", keys.public_key_id)
    assert re.fullmatch(r"[0-9A-F]+", keys.platform_cert_serial)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", keys.apiv3_key)
    assert (directory / "apiv3_key").read_bytes() == keys.apiv3_key.encode()  # no newline
    assert re.fullmatch(r"[0-9a-f]{32}", keys.app_secret)
    assert (directory / "app_secret").read_bytes() == keys.app_secret.encode()
    assert json.loads((directory / "ids.json").read_text()) == {
        "mchid": keys.mchid, "appid": keys.appid, "merchant_serial_no": keys.merchant_serial_no,
        "public_key_id": keys.public_key_id, "platform_cert_serial": keys.platform_cert_serial}

    for private, public in ((keys.merchant_private_key_path, keys.merchant_public_key_path),
                            (keys.platform_private_key_path, keys.platform_public_key_path)):
        # PKCS#8 ("PRIVATE KEY"), not the PKCS#1 "RSA PRIVATE KEY" label the SDK's wrapper would break.
        assert private.read_text().splitlines()[0].split() == ["-----BEGIN", "PRIVATE", "KEY-----"]
        key = crypto.load_private_key(private.read_bytes())
        assert key.key_size == 2048
        assert crypto.verify(crypto.load_public_key(public.read_bytes()), b"m", crypto.sign(key, b"m"))

    cert = x509.load_pem_x509_certificate(keys.platform_cert_path.read_bytes())
    assert format(cert.serial_number, "X") == keys.platform_cert_serial
    assert cert.issuer == cert.subject
    assert cert.public_key().public_numbers() == \
        crypto.load_public_key(keys.platform_public_key_path.read_bytes()).public_numbers()
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=5 * 365) <= validity <= timedelta(days=5 * 366)
    assert cert.not_valid_before_utc <= datetime.now(timezone.utc)


def test_ensure_keys_is_idempotent(tmp_path):
    first = ensure_keys(tmp_path)
    before = snapshot(tmp_path)
    assert ensure_keys(tmp_path) == first
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("missing, changed", [
    ("apiv3_key", {"apiv3_key"}),
    ("app_secret", {"app_secret"}),  # a folder from before the AppSecret gets one
    ("platform_cert.pem", {"platform_cert.pem", "ids.json"}),
    ("merchant_public_key.pem", set()),  # derived again from the private key: identical
    ("merchant_key.pem", {"merchant_key.pem", "merchant_public_key.pem"}),
    ("platform_key.pem", {"platform_key.pem", "platform_public_key.pem", "platform_cert.pem", "ids.json"}),
])
def test_only_what_is_missing_is_generated(tmp_path, missing, changed):
    first = ensure_keys(tmp_path)
    before = snapshot(tmp_path)
    (tmp_path / missing).unlink()
    second = ensure_keys(tmp_path)
    after = snapshot(tmp_path)
    assert {name for name in FILES if before[name] != after[name]} == changed
    assert (second.mchid, second.appid, second.public_key_id) == (first.mchid, first.appid, first.public_key_id)
    assert mode(tmp_path / missing) == 0o600


def test_concurrent_first_starts_agree(tmp_path):
    """Threads and processes racing on an empty folder all get the same keys."""
    directory = tmp_path / "race"
    code = ("import sys, json; from wechatpay_sandbox.keys import ensure_keys; "
            "k = ensure_keys(sys.argv[1]); print(json.dumps([k.mchid, k.public_key_id, k.platform_cert_serial, "
            "k.apiv3_key]))")
    processes = [subprocess.Popen([sys.executable, "-c", code, str(directory)], cwd=tmp_path,
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    threads = [threading.Thread(target=lambda: results.append(ensure_keys(directory))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outputs = [json.loads(process.communicate(timeout=30)[0]) for process in processes]
    assert all(process.returncode == 0 for process in processes)
    keys = results[0]
    assert all(result == keys for result in results)
    assert all(output == [keys.mchid, keys.public_key_id, keys.platform_cert_serial, keys.apiv3_key]
               for output in outputs)
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]
