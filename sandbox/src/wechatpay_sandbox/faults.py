"""Fault injection: make the next N API calls or notifications misbehave, or a share of them (a rate).

Faults live in the database so that the count is shared by every request thread (and process) and
each armed fault is consumed exactly once. A fault with a `rate` stays armed (until cleared, or until it
has fired `count` times when a count is given) and fires for each matching call or notification with that
probability; faults without one come first, as before.
"""

from __future__ import annotations

import random
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
# Notification modes that decide what happens to the copies exclude one another: one draw picks at most
# one of their rate faults (drop 20 % and duplicate 20 % are two different fifths of the notifications).
NOTIFY_DRAWS = (("drop", "duplicate", "concurrent"), ("delay",), ("bad_signature",))
_random = random.Random()


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
    rate = None
    if spec.get("rate") not in (None, ""):
        rate = number("rate", None, float, 0.0, 1.0)
        if rate <= 0.0:
            raise ValueError("rate must be between 0 (exclusive) and 1")
    # A rate fault stays armed until cleared, unless a count is given too.
    unlimited = rate is not None and spec.get("count") in (None, "")
    return {
        "target": target,
        "mode": mode,
        "remaining": None if unlimited else number("count", 1, int, 1, 1000),
        "rate": rate,
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
    fault.fired = (fault.fired or 0) + 1
    if fault.remaining is not None:
        fault.remaining -= 1
        if fault.remaining <= 0:
            session.delete(fault)
    return snapshot


def _draw(candidates: list[Fault]) -> Fault | None:
    """One draw among rate faults, in arming order: each fires with its rate, at most one fires.

    Their rates add up (5 % of 500s and 5 % of 429s: 10 % of the calls fail, never twice); past a total
    of 1 the later ones fire less often than asked.
    """
    draw, edge = _random.random(), 0.0
    for fault in candidates:
        edge += fault.rate
        if draw < edge:
            return fault
    return None


def _take_one(session: Session, candidates: list[Fault]) -> ArmedFault | None:
    """The oldest counted fault among ``candidates``, else one drawn among their rate faults."""
    counted = next((fault for fault in candidates if fault.rate is None), None)
    chosen = counted or _draw([fault for fault in candidates if fault.rate is not None])
    return None if chosen is None else _consume(session, chosen)


def take_api_fault(session: Session, path: str, is_close: bool) -> ArmedFault | None:
    """Consume the oldest armed API fault that applies to this request, else draw among the rate faults."""
    candidates = [
        fault for fault in session.scalars(select(Fault).where(Fault.target == "api").order_by(Fault.id)).all()
        if (not fault.path_prefix or path.startswith(fault.path_prefix))
        and (fault.mode != "pay_on_close" or is_close)
    ]
    return _take_one(session, candidates)


def take_fault(session: Session, target: str, mode: str | None = None) -> ArmedFault | None:
    """Consume the oldest armed fault of a target (oauth, bridge, bill), of this mode if given, else draw
    among its rate faults."""
    query = select(Fault).where(Fault.target == target)
    if mode is not None:
        query = query.where(Fault.mode == mode)
    return _take_one(session, list(session.scalars(query.order_by(Fault.id))))


def take_notify_faults(session: Session) -> dict[str, ArmedFault]:
    """For a new notification: at most one armed counted fault of each mode; then, for each group of
    NOTIFY_DRAWS none of whose modes was taken so, one draw among the group's rate faults."""
    armed_faults = session.scalars(select(Fault).where(Fault.target == "notify").order_by(Fault.id)).all()
    taken: dict[str, ArmedFault] = {}
    for fault in armed_faults:
        if fault.rate is None and fault.mode not in taken:
            taken[fault.mode] = _consume(session, fault)
    for group in NOTIFY_DRAWS:
        if not taken.keys() & set(group):
            drawn = _draw([fault for fault in armed_faults if fault.rate is not None and fault.mode in group])
            if drawn is not None:
                taken[drawn.mode] = _consume(session, drawn)
    return taken


def as_dict(fault: Fault) -> dict:
    return {"id": fault.id, "target": fault.target, "mode": fault.mode, "count": fault.remaining,
            "rate": fault.rate, "fired": fault.fired or 0,
            "times": fault.times, "seconds": fault.seconds, "path_prefix": fault.path_prefix,
            "created_at": clock.rfc3339(fault.created_at)}
