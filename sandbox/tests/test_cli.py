"""Running the sandbox: settings, the `wechatpay-sandbox` command, the key-folder contract, start_sandbox."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from wechatpayv3 import WeChatPay, WeChatPayType

from wechatpay_sandbox import settings
from wechatpay_sandbox.testing import start_sandbox

COMMAND = Path(sys.executable).with_name("wechatpay-sandbox")  # the console script beside this interpreter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SANDBOX_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def wait_for_info(process, port: int) -> dict:
    deadline = time.monotonic() + 20
    while True:
        try:
            return requests.get(f"http://127.0.0.1:{port}/sandbox/api/info", timeout=1).json()
        except requests.ConnectionError:
            assert process.poll() is None, "the sandbox exited"
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.05)


# -- settings -------------------------------------------------------------------------------------

def test_settings_precedence_and_defaults_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SANDBOX_TIME_SCALE", "120")
    monkeypatch.setenv("SANDBOX_DELIVERY_WORKER", "false")
    monkeypatch.setenv("SANDBOX_MERCHANT_NAME", "环境变量店")
    monkeypatch.setenv("SANDBOX_ALLOWED_HOSTS", " Dev.Example , ,phone.test")
    loaded = settings.load({"SANDBOX_MERCHANT_NAME": "配置店", "SANDBOX_PUBLIC_URL": "http://127.0.0.1:9/"})
    assert loaded["SANDBOX_TIME_SCALE"] == 120.0 and loaded["SANDBOX_DELIVERY_WORKER"] is False
    assert loaded["SANDBOX_MERCHANT_NAME"] == "配置店"  # the config dict wins over the environment
    assert loaded["SANDBOX_PUBLIC_URL"] == "http://127.0.0.1:9"
    assert loaded["SANDBOX_ALLOWED_HOSTS"] == ("dev.example", "phone.test")
    for name in ("SANDBOX_TIME_SCALE", "SANDBOX_DELIVERY_WORKER", "SANDBOX_MERCHANT_NAME", "SANDBOX_ALLOWED_HOSTS"):
        monkeypatch.delenv(name)
    defaults = settings.load()
    assert defaults["SANDBOX_TIME_SCALE"] == 60.0 and defaults["SANDBOX_NOTIFY_TIMEOUT"] == 5.0
    assert defaults["SANDBOX_KEY_MODE"] == "public_key" and defaults["SANDBOX_REFUND_NOTIFY_URL"] == ""
    assert defaults["SANDBOX_KEY_DIR"] == str(tmp_path / "wechatpay-sandbox" / "keys")
    assert defaults["SANDBOX_DATABASE"] == str(tmp_path / "wechatpay-sandbox" / "sandbox.sqlite3")
    for bad in ({"SANDBOX_TIME_SCALE": 0}, {"SANDBOX_KEY_MODE": "both"}, {"SANDBOX_NOTIFY_TIMEOUT": -1},
                {"SANDBOX_REFUND_NOTIFY_URL": "ftp://shop.example/refunds"}):
        with pytest.raises(ValueError):
            settings.load(bad)


def test_settings_change_while_running(sb):
    url = sb.url + "/sandbox/api/settings"
    assert requests.get(url, timeout=5).json()["settings"]["SANDBOX_KEY_MODE"] == "public_key"
    changed = sb.configure(SANDBOX_KEY_MODE="certificate", SANDBOX_MERCHANT_NAME="改名店",
                           SANDBOX_ALLOWED_HOSTS="a.test,B.test")
    assert changed["SANDBOX_KEY_MODE"] == "certificate" and changed["SANDBOX_MERCHANT_NAME"] == "改名店"
    assert changed["SANDBOX_ALLOWED_HOSTS"] == ["a.test", "b.test"]
    assert sb.runtime.key_mode == "certificate"
    for bad in ({"SANDBOX_NO_SUCH": 1}, {"SANDBOX_DATABASE": "/tmp/x.sqlite3"}, {"SANDBOX_TIME_SCALE": "fast"},
                {"SANDBOX_TIME_SCALE": [1]}, {"SANDBOX_TIME_SCALE": "nan"}, {"SANDBOX_KEY_MODE": "both"},
                {"SANDBOX_PUBLIC_URL": ["http://127.0.0.1:1"]}, {"SANDBOX_PUBLIC_URL": "127.0.0.1:1"},
                {"SANDBOX_ALLOWED_HOSTS": [1]}, {"SANDBOX_ALLOWED_HOSTS": {"a": "b"}}):
        response = requests.patch(url, json=bad, timeout=5)
        assert response.status_code == 400 and response.json()["error"] == "INVALID_SETTING", bad
    assert requests.patch(url, data="[1]", headers={"Content-Type": "application/json"}, timeout=5).status_code == 400
    assert sb.runtime.key_mode == "certificate"  # refused changes changed nothing
    sb.reset()
    assert sb.runtime.key_mode == "public_key" and sb.runtime.merchant_name == "演示小店"
    assert sb.runtime.settings["SANDBOX_ALLOWED_HOSTS"] == ()


# -- start_sandbox (tests) -----------------------------------------------------------------------------

def test_start_sandbox_is_fast_and_stops_quickly(sandbox_dir):
    began = time.monotonic()
    running = start_sandbox(sandbox_dir)
    assert time.monotonic() - began < 1.0
    info = requests.get(running.url + "/sandbox/api/info", timeout=5).json()
    assert info["mchid"] == running.keys.mchid and info["public_url"] == running.url
    assert running.url.startswith("http://127.0.0.1:")
    assert (sandbox_dir / "sandbox.sqlite3").exists()
    began = time.monotonic()
    running.stop()
    assert time.monotonic() - began < 1.0
    with pytest.raises(requests.ConnectionError):
        requests.get(running.url + "/sandbox/api/info", timeout=2)


# -- the command ---------------------------------------------------------------------------------------

def test_command_serves_with_its_data_in_the_working_directory(tmp_path):
    port = free_port()
    process = subprocess.Popen([str(COMMAND), "--port", str(port)], cwd=tmp_path, env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        info = wait_for_info(process, port)
        data = tmp_path / "wechatpay-sandbox"
        assert info["key_dir"] == str(data / "keys") and info["public_url"] == f"http://127.0.0.1:{port}"
        assert info["time_scale"] == 60.0 and info["key_mode"] == "public_key"
        assert (data / "keys" / "ids.json").exists() and (data / "sandbox.sqlite3").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"WeChat Pay sandbox: http://127.0.0.1:{port}" in output


def test_command_takes_its_paths_from_flags(tmp_path):
    port = free_port()
    keys, database = tmp_path / "k", tmp_path / "db" / "s.sqlite3"
    process = subprocess.Popen(
        [str(COMMAND), "serve", "--port", str(port), "--keys", str(keys), "--database", str(database),
         "--public-url", "http://localhost:8888/"], cwd=tmp_path, env=clean_env(SANDBOX_TIME_SCALE="7"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        info = wait_for_info(process, port)
        assert (info["key_dir"], info["public_url"], info["time_scale"]) == (str(keys), "http://localhost:8888", 7.0)
        assert database.exists() and not (tmp_path / "wechatpay-sandbox").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_command_keys_writes_the_key_folder_and_exits(tmp_path):
    folder = tmp_path / "instance" / "wechatpay"
    first = subprocess.run([str(COMMAND), "keys", "--keys", str(folder)], env=clean_env(), cwd=tmp_path,
                           capture_output=True, text=True, timeout=60, check=True)
    ids = json.loads((folder / "ids.json").read_text())
    assert ids["mchid"] in first.stdout and str(folder) in first.stdout
    again = subprocess.run([str(COMMAND), "keys", "--keys", str(folder)], env=clean_env(), cwd=tmp_path,
                           capture_output=True, text=True, timeout=60, check=True)
    assert again.stdout == first.stdout  # idempotent: the same folder, nothing regenerated
    assert not (tmp_path / "wechatpay-sandbox").exists()


def test_command_help_names_both_uses():
    result = subprocess.run([str(COMMAND), "--help"], capture_output=True, text=True, timeout=30, check=True)
    assert "wechatpay-sandbox keys [--keys DIR]" in result.stdout and "--database" in result.stdout


# -- the key-folder contract ------------------------------------------------------------------------------

def test_the_documented_key_folder_is_all_a_client_needs(sb, receiver):
    """Read the folder only as the README documents it (ids.json + fixed names), as merchant code does."""
    folder = Path(sb.keys.directory)
    ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
    assert set(ids) >= {"mchid", "appid", "merchant_serial_no", "public_key_id", "platform_cert_serial"}
    client = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE, mchid=ids["mchid"], appid=ids["appid"],
        private_key=(folder / "merchant_key.pem").read_text(), cert_serial_no=ids["merchant_serial_no"],
        apiv3_key=(folder / "apiv3_key").read_text(), public_key=(folder / "platform_public_key.pem").read_text(),
        public_key_id=ids["public_key_id"], notify_url=receiver.url)
    client._core._gate_way = sb.url
    status, body = client.pay(description="契约", out_trade_no="CONTRACT01", amount={"total": 1})
    assert status == 200 and json.loads(body)["code_url"]
    sb.pay("CONTRACT01")
    note = receiver.wait(1)[0]
    assert client.callback(note.headers, note.body)["resource"]["trade_state"] == "SUCCESS"
    assert (folder / "platform_cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
