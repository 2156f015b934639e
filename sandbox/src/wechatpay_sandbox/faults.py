"""Fault injection: make the next N API calls or notifications misbehave.

Faults live in the database so that the count is shared by every request thread (and process) and
each armed fault is consumed exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import clock
from .models import Fault

API_MODES = {
    "system_error": "答复 500 SYSTEM_ERROR（请求未被处理）",
    "frequency_limited": "答复 429 FREQUENCY_LIMITED（请求未被处理）",
    "hang": "照常处理，但晚 seconds 秒才答复（超过客户端超时）",
    "tamper": "答复在途中被篡改（签名不再匹配）",
    "pay_on_close": "关单前一刻顾客已付款：订单变为 SUCCESS，关单答复 ORDERPAID",
}
NOTIFY_MODES = {
    "drop": "丢弃通知：不发送也不重试",
    "duplicate": "每次投递连发 times 份",
    "concurrent": "每次投递同时并发 times 份",
    "delay": "首次投递推迟 seconds 秒",
    "bad_signature": "先发一份错误签名的探测通知（WECHATPAY/SIGNTEST/）",
}
OAUTH_MODES = {
    "system_error": "换取 access_token 答复 errcode -1 system error",
    "hang": "换取 access_token 晚 seconds 秒才答复",
}
BRIDGE_MODES = {
    "fail": "JSAPI 调起支付失败：get_brand_wcpay_request:fail（系统繁忙）",
}
BILL_MODES = {
    "not_ready": "申请交易账单答复 400 STATEMENT_CREATING（账单仍在生成）",
    "corrupt": "下载的账单在途中损坏（与 hash_value 不符）",
}
TARGETS = {"api": API_MODES, "notify": NOTIFY_MODES, "oauth": OAUTH_MODES, "bridge": BRIDGE_MODES,
           "bill": BILL_MODES}
DEFAULT_SECONDS = {"hang": 30.0, "delay": 5.0}


@dataclass(frozen=True)
class ArmedFault:
    id: int
    target: str
    mode: str
    times: int
    seconds: float
    path_prefix: str | None


def _snapshot(fault: Fault) -> ArmedFault:
    return ArmedFault(fault.id, fault.target, fault.mode, fault.times, fault.seconds, fault.path_prefix)


def parse_spec(spec: dict) -> dict:
    """Validate a fault spec from the control API or the faults page; raise ValueError."""
    if not isinstance(spec, dict):
        raise ValueError("fault spec must be a JSON object")
    target = spec.get("target")
    mode = spec.get("mode")
    modes = TARGETS.get(target) if isinstance(target, str) else None
    if modes is None:
        raise ValueError("target must be one of: " + ", ".join(TARGETS))
    if not isinstance(mode, str) or mode not in modes:
        raise ValueError(f"mode for target {target!r} must be one of: {', '.join(modes)}")

    def number(name, default, kind, low, high):
        value = spec.get(name, default)
        if value in (None, ""):
            value = default
        try:
            value = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number") from None
        if isinstance(spec.get(name), bool) or not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}")
        return value

    path_prefix = spec.get("path_prefix") or None
    if path_prefix is not None and (target != "api" or not isinstance(path_prefix, str)
                                    or not path_prefix.startswith("/")):
        raise ValueError("path_prefix applies to target 'api' and must start with '/'")
    return {
        "target": target,
        "mode": mode,
        "remaining": number("count", 1, int, 1, 1000),
        "times": number("times", 2, int, 1, 20),
        "seconds": number("seconds", DEFAULT_SECONDS.get(mode, 0.0), float, 0.0, 86400.0),
        "path_prefix": path_prefix,
    }


def arm(session: Session, spec: dict) -> Fault:
    fault = Fault(created_at=clock.now(), **parse_spec(spec))
    session.add(fault)
    session.flush()
    return fault


def clear(session: Session) -> int:
    return session.execute(delete(Fault)).rowcount


def armed(session: Session) -> list[Fault]:
    return list(session.scalars(select(Fault).order_by(Fault.id)))


def _consume(session: Session, fault: Fault) -> ArmedFault:
    snapshot = _snapshot(fault)
    fault.remaining -= 1
    if fault.remaining <= 0:
        session.delete(fault)
    return snapshot


def take_api_fault(session: Session, path: str, is_close: bool) -> ArmedFault | None:
    """Consume the oldest armed API fault that applies to this request, if any."""
    for fault in session.scalars(select(Fault).where(Fault.target == "api").order_by(Fault.id)).all():
        if fault.path_prefix and not path.startswith(fault.path_prefix):
            continue
        if fault.mode == "pay_on_close" and not is_close:
            continue
        return _consume(session, fault)
    return None


def take_fault(session: Session, target: str, mode: str | None = None) -> ArmedFault | None:
    """Consume the oldest armed fault of a target (oauth, bridge, bill), of this mode if given, if any."""
    query = select(Fault).where(Fault.target == target)
    if mode is not None:
        query = query.where(Fault.mode == mode)
    fault = session.scalars(query.order_by(Fault.id).limit(1)).first()
    return None if fault is None else _consume(session, fault)


def take_notify_faults(session: Session) -> dict[str, ArmedFault]:
    """Consume at most one armed notification fault of each mode for a new notification."""
    taken: dict[str, ArmedFault] = {}
    for fault in session.scalars(select(Fault).where(Fault.target == "notify").order_by(Fault.id)).all():
        if fault.mode not in taken:
            taken[fault.mode] = _consume(session, fault)
    return taken


def as_dict(fault: Fault) -> dict:
    return {"id": fault.id, "target": fault.target, "mode": fault.mode, "count": fault.remaining,
            "times": fault.times, "seconds": fault.seconds, "path_prefix": fault.path_prefix,
            "created_at": clock.rfc3339(fault.created_at)}
