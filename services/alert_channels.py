"""The two ways an alert leaves the shop: a WeCom group robot (企业微信群机器人) and email over SMTP.

Both are called only by the jobs process, through services/alerts.deliver; each raises AlertNotSent with a
short reason the owner's alert page shows. Neither is idempotent on the far side (WeCom has no key), so a
crash between sending and recording can repeat one message: the text carries the alert's number to tell.
"""
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import requests

# WeCom's markdown messages hold at most 4096 bytes.
WECOM_MAX_BYTES = 4096


class AlertNotSent(Exception):
    """The channel did not take the message; the text says why, for the owner."""


def timeout(config) -> float:
    return float(config.get("ALERT_TIMEOUT_SECONDS") or 10)


def cut_utf8(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit - 3].decode(errors="ignore") + "…"


def wecom_markdown(message) -> str:
    lines = [f"**{message.title}**", *(f"> {line}" for line in message.lines)]
    if message.link:
        lines.append(f"[在后台查看]({message.link})")
    return cut_utf8("\n".join(lines), WECOM_MAX_BYTES)


def send_wecom(config, message) -> None:
    """POST a markdown message to the robot's webhook; a non-zero errcode in its answer is a failure."""
    body = {"msgtype": "markdown", "markdown": {"content": wecom_markdown(message)}}
    try:
        response = requests.post(config["ALERT_WECOM_WEBHOOK_URL"], json=body, timeout=(3, timeout(config)))
    except requests.Timeout:
        raise AlertNotSent("企业微信无应答（超时）") from None
    except requests.RequestException as error:
        raise AlertNotSent(f"无法连接企业微信：{type(error).__name__}") from None
    if response.status_code != 200:
        raise AlertNotSent(f"企业微信返回 HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise AlertNotSent("企业微信的应答不是 JSON") from None
    errcode = answer.get("errcode") if isinstance(answer, dict) else None
    if errcode != 0:
        raise AlertNotSent(f"企业微信拒绝：errcode {errcode} {str(answer.get('errmsg', ''))[:200]}")


def smtp_security(config) -> str:
    """ssl (port 465, the usual for QQ and 163 mail), starttls (587) or none (a local relay)."""
    security = (config.get("ALERT_SMTP_SECURITY") or "").lower()
    if not security:
        return "ssl" if int(config.get("ALERT_SMTP_PORT") or 465) == 465 else "starttls"
    if security not in ("ssl", "starttls", "none"):
        raise AlertNotSent(f"ALERT_SMTP_SECURITY={security} 无效：应为 ssl、starttls 或 none")
    return security


def tls_context(config) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=config.get("ALERT_SMTP_CA_FILE") or None)


def smtp_password(config) -> str | None:
    path = config.get("ALERT_SMTP_PASSWORD_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise AlertNotSent(f"读不到 ALERT_SMTP_PASSWORD_FILE：{error.strerror}") from None


def email_message(config, message, message_id: str) -> EmailMessage:
    recipients = [address.strip() for address in config["ALERT_SMTP_TO"].split(",") if address.strip()]
    sender = config.get("ALERT_SMTP_FROM") or config.get("ALERT_SMTP_USER") or recipients[0]
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(localtime=False)
    # The same id on every retry of one alert: mail programs that dedupe by Message-ID show it once.
    domain = sender.rpartition("@")[2] or "shop.local"
    mail["Message-ID"] = f"<{message_id}@{domain}>" if message_id else make_msgid(domain=domain)
    body = "\n".join([message.title, "", *message.lines])
    if message.link:
        body += f"\n\n在后台查看：{message.link}"
    mail.set_content(body + "\n")
    return mail


def send_email(config, message, message_id: str = "") -> None:
    """Send the alert by SMTP (SSL, STARTTLS or plain), logging in when a user is set."""
    host, port = config["ALERT_SMTP_HOST"], int(config.get("ALERT_SMTP_PORT") or 465)
    security, password = smtp_security(config), smtp_password(config)
    mail = email_message(config, message, message_id)
    try:
        if security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout(config), context=tls_context(config))
        else:
            client = smtplib.SMTP(host, port, timeout=timeout(config))
        with client:
            if security == "starttls":
                client.starttls(context=tls_context(config))
            if config.get("ALERT_SMTP_USER"):
                client.login(config["ALERT_SMTP_USER"], password or "")
            client.send_message(mail)
    except smtplib.SMTPAuthenticationError:
        raise AlertNotSent("邮件服务器拒绝登录：检查 ALERT_SMTP_USER 和密码（QQ、163 邮箱要用授权码）") from None
    except smtplib.SMTPException as error:
        raise AlertNotSent(f"邮件发送失败：{type(error).__name__} {str(error)[:200]}") from None
    except (OSError, ssl.SSLError) as error:
        raise AlertNotSent(f"无法连接邮件服务器 {host}:{port}：{type(error).__name__} {error}") from None
