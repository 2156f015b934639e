"""`make loadtest`'s checks: the shop's final state against the sandbox's, and every message against both.

The shop's database is read with its own models (read only); the sandbox's orders and refunds through its
control API. Each check returns what it found; a check holds only when nothing mismatched.
"""
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from blueprints.pay.routes import CANCEL_MESSAGES, CANCEL_MESSAGES_BY_STATUS
from core.vocabulary import PAID_STATUSES, EventKind, OrderStatus, Outcome, RefundStatus, StockReason
from models import Order, OrderDayTotals, OrderItem, PaymentAttempt, PaymentEvent, Product, Refund, StockLog
from tests.bench.traffic import Message, Traffic

PAID = frozenset(PAID_STATUSES)
CLOSED = frozenset({OrderStatus.CLOSED})
SHIPPED = frozenset({OrderStatus.SHIPPED})
ANY = None  # said while the order was still open: true whatever it became
SANDBOX_PAID = ("SUCCESS", "REFUND")


# ---- what each message promises about the order's final status ----

# The customer's cancel (blueprints/pay/routes.py): what each outcome of close_order and each status means.
OUTCOME_FINAL = {Outcome.PAID: PAID, Outcome.ALREADY_PAID: PAID, Outcome.CLOSED: CLOSED,
                 Outcome.ALREADY_CLOSED: CLOSED, Outcome.UNCHANGED: ANY}
STATUS_FINAL = {OrderStatus.PENDING: ANY, OrderStatus.PAID: PAID, OrderStatus.SHIPPED: SHIPPED,
                OrderStatus.CLOSED: CLOSED}
# The status poll's answers, as pay.js shows them: paid -> 支付成功; expired (pending past the deadline) ->
# 支付已超时 with "如果您刚刚付过款，请稍候" (a payment made at the last moment may still arrive); closed -> the
# page reloads to 订单已关闭.
POLL_FINAL = {"pending": ANY, "paid": PAID, "shipped": SHIPPED, "closed": CLOSED, "expired": CLOSED | PAID}
# Page titles (templates/pay/*.html) and what the page says about the order's end.
TITLE_FINAL = {
    "请使用微信扫码支付": ANY,  # the pay page, while it can be paid
    "暂时无法发起微信支付": ANY,  # retry.html: the order is kept, try again
    "确定要取消这笔订单吗？": ANY,  # cancel_confirm.html asks
    "支付成功": PAID,  # success.html: "我们已收到 …，将尽快为您发货"
    "订单已关闭": CLOSED,  # closed.html: "已取消或超时关闭，未产生扣款"
    "支付已超时": CLOSED | PAID,  # expired.html: "将被自动关闭 … 如果您刚刚付过款，请稍候"
}
# The order page's status label (Order.status_label).
LABEL_FINAL = {**{status.label: STATUS_FINAL[status] for status in OrderStatus}, "已退款": PAID, "部分退款": PAID}


def cancel_final() -> dict[str, frozenset | None]:
    """Each cancel message with the final statuses it allows, from the shop's own tables."""
    table: dict[str, list] = defaultdict(list)
    for outcome, (message, _, _) in CANCEL_MESSAGES.items():
        table[message].append(OUTCOME_FINAL[outcome])
    for status, (message, _, _) in CANCEL_MESSAGES_BY_STATUS.items():
        table[message].append(STATUS_FINAL[status])
    return {message: None if ANY in finals else frozenset().union(*finals) for message, finals in table.items()}


# The owner's refund messages (blueprints/admin/routes.py refund()).
YUAN = r"¥([\d,]+\.\d\d)"
REFUND_ASKED = re.compile(rf"已向微信支付申请退款 {YUAN}（退款单号 (\S+)），微信支付确认后完成。")
REFUND_DONE = re.compile(rf"退款 {YUAN} 已成功（退款单号 (\S+)）。")
REFUND_UNANSWERED = "微信支付暂时没有答复，退款申请已记录，系统会自动向微信支付确认结果，请勿重复提交。"
REFUND_NOT_MADE = "退款没有发生，库存也没有变。"
# Refused by the form (a race with another refund, or the page out of date): nothing was asked of WeChat Pay.
REFUND_FORM_REFUSALS = ("可退金额已变化", "退款金额须在", "只有已支付的订单可以退款")


def fen(yuan: str) -> int:
    whole, cents = yuan.replace(",", "").split(".")
    return int(whole) * 100 + int(cents)


# ---- the final states ----

@dataclass
class ShopOrder:
    id: int
    token: str
    number: str
    status: str
    total_fen: int
    refunded_fen: int
    transaction_id: str | None
    has_refund: bool = False
    items: list[tuple[int, int]] = field(default_factory=list)  # (product_id, quantity)
    attempts: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # out_trade_no -> (status, txn)
    events: Counter = field(default_factory=Counter)  # (kind, outcome) -> count
    stock: Counter = field(default_factory=Counter)  # reason -> log rows


@dataclass
class ShopState:
    orders: dict[int, ShopOrder]
    refunds: dict[str, dict]  # out_refund_no -> {order_id, amount_fen, status, extra}
    stock: dict[int, int]
    log_change: Counter  # product -> sum of stock_log changes after the start
    kept_totals: Counter  # (status, figure) -> sum over order_day_totals, the rows the database's triggers keep


def engine_for(database_url: str):
    return create_engine(database_url)


def stock_now(database_url: str) -> tuple[dict[int, int], int]:
    """Each product's stock, and the last stock_log id (where the run starts)."""
    engine = engine_for(database_url)
    try:
        with Session(engine) as session:
            stock = dict(session.execute(select(Product.id, Product.stock)).all())
            last = session.scalar(select(StockLog.id).order_by(StockLog.id.desc()).limit(1)) or 0
            return stock, last
    finally:
        engine.dispose()


def read_shop(database_url: str, log_start: int) -> ShopState:
    engine = engine_for(database_url)
    try:
        with Session(engine) as session:
            orders = {order.id: ShopOrder(order.id, order.token, order.out_trade_no, order.status, order.total_fen,
                                          order.refunded_fen, order.transaction_id, order.has_refund)
                      for order in session.scalars(select(Order))}
            for order_id, product_id, quantity in session.execute(
                    select(OrderItem.order_id, OrderItem.product_id, OrderItem.quantity)):
                orders[order_id].items.append((product_id, quantity))
            for order_id, number, status, txn in session.execute(
                    select(PaymentAttempt.order_id, PaymentAttempt.out_trade_no, PaymentAttempt.status,
                           PaymentAttempt.transaction_id)):
                orders[order_id].attempts[number] = (status, txn)
            for order_id, kind, outcome in session.execute(
                    select(PaymentEvent.order_id, PaymentEvent.kind, PaymentEvent.outcome)
                    .where(PaymentEvent.order_id.is_not(None))):
                orders[order_id].events[(kind, outcome)] += 1
            log_change = Counter()
            for order_id, product_id, reason, change in session.execute(
                    select(StockLog.order_id, StockLog.product_id, StockLog.reason, StockLog.change)
                    .where(StockLog.id > log_start)):
                log_change[product_id] += change
                if order_id is not None:
                    orders[order_id].stock[reason] += 1
            refunds = {refund.out_refund_no: {"order_id": refund.order_id, "amount_fen": refund.amount_fen,
                                              "status": refund.status, "extra": refund.extra_payment}
                       for refund in session.scalars(select(Refund))}
            stock = dict(session.execute(select(Product.id, Product.stock)).all())
            kept = Counter()
            for row in session.execute(select(OrderDayTotals.status, OrderDayTotals.order_count,
                                              OrderDayTotals.total_fen, OrderDayTotals.refunded_fen)):
                kept.update(status_figures(*row))
            return ShopState(orders, refunds, stock, log_change, +kept)
    finally:
        engine.dispose()


def read_sandbox(sandbox_url: str) -> dict[str, dict]:
    """The sandbox's orders by out_trade_no, each with its refunds: WeChat Pay's side of the books."""
    with requests.Session() as http:
        http.trust_env = False
        answer = http.get(f"{sandbox_url}/sandbox/api/orders", params={"limit": 100_000}, timeout=60)
        answer.raise_for_status()
        return {order["out_trade_no"]: order for order in answer.json()["orders"]}


# ---- the checks ----

@dataclass
class Check:
    name: str
    problems: list[str] = field(default_factory=list)
    figures: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def no_server_errors(traffic: Traffic) -> Check:
    check = Check("0 5xx from the shop")
    answers = sum(traffic.statuses.values())
    check.figures = f"{answers:,} answers, {sum(n for s, n in traffic.statuses.items() if s >= 500)} 5xx"
    for at, method, label, status in traffic.server_errors:
        check.problems.append(f"{status} on {method} {label} at +{at - traffic.started:.1f} s")
    return check


def dropped_only_at_the_kill(traffic: Traffic, grace: float = 5.0) -> Check:
    """Connections the shop dropped: only those the killed worker was holding."""
    check = Check("connections dropped only by the killed worker")
    kill = traffic.kill
    window = (kill["at"] - 0.5, kill["at"] + kill["replaced_in"] + grace) if kill else None
    check.figures = f"{len(traffic.connection_errors)} dropped" + (
        f" (worker {kill['pid']} killed at +{kill['at'] - traffic.started:.1f} s, replaced in "
        f"{kill['replaced_in']:.1f} s)" if kill else " (no worker was killed)")
    for at, method, label, error in traffic.connection_errors:
        if window is None or not window[0] <= at <= window[1]:
            check.problems.append(f"{error} on {method} {label} at +{at - traffic.started:.1f} s")
    return check


def client_did_its_part(traffic: Traffic, minimums: dict[str, int]) -> Check:
    """The visitors did what the run is about (else the other checks prove little) and the client had no bug."""
    check = Check("the visitors did what they set out to")
    check.figures = ", ".join(f"{what} {n}" for what, n in sorted(traffic.outcomes.items()))
    for what, n in traffic.outcomes.items():
        if what.startswith("client error"):
            check.problems.append(f"{what} ({n}×)")
    for what, least in minimums.items():
        if traffic.outcomes.get(what, 0) < least:
            check.problems.append(f"only {traffic.outcomes.get(what, 0)} {what} (at least {least} expected)")
    if not traffic.kill:
        check.problems.append("no web worker was killed")
    return check


def paid_sets(shop: ShopState, sandbox: dict[str, dict]) -> Check:
    check = Check("paid on the sandbox == paid or shipped in the shop")
    order_of = {number: order.id for order in shop.orders.values() for number in order.attempts}
    unknown = sorted(number for number in sandbox if number not in order_of)
    check.problems += [f"the sandbox has an order the shop never made: {number}" for number in unknown]
    paid_there = {order_of[number] for number, order in sandbox.items()
                  if order["trade_state"] in SANDBOX_PAID and number in order_of}
    paid_here = {order.id for order in shop.orders.values() if order.status in PAID}
    for order_id in sorted(paid_there - paid_here):
        order = shop.orders[order_id]
        check.problems.append(f"order {order.number}: paid on the sandbox, {order.status} in the shop")
    for order_id in sorted(paid_here - paid_there):
        check.problems.append(f"order {shop.orders[order_id].number}: {shop.orders[order_id].status} in the shop, "
                              "never paid on the sandbox")
    for order in shop.orders.values():
        for number, (status, txn) in order.attempts.items():
            there = sandbox.get(number)
            paid = there is not None and there["trade_state"] in SANDBOX_PAID
            if paid != (status == "paid") or (paid and txn != there["transaction_id"]):
                check.problems.append(f"attempt {number}: {status} ({txn}) in the shop, "
                                      f"{there and there['trade_state']} ({there and there['transaction_id']}) "
                                      "on the sandbox")
            if paid and there["amount"]["total"] != order.total_fen:
                check.problems.append(f"attempt {number}: paid {there['amount']['total']} fen for {order.total_fen}")
        if order.status in PAID and not any(txn == order.transaction_id for _, txn in order.attempts.values()):
            check.problems.append(f"order {order.number}: keeps {order.transaction_id}, none of its attempts' payment")
        if order.status == OrderStatus.CLOSED and any(
                sandbox.get(number, {}).get("trade_state", "CLOSED") != "CLOSED" for number in order.attempts):
            check.problems.append(f"order {order.number}: closed in the shop, still open on the sandbox")
        if order.status == OrderStatus.PENDING:
            check.problems.append(f"order {order.number}: still pending after the run settled")
    check.figures = f"{len(paid_there)} paid on the sandbox, {len(paid_here)} paid or shipped in the shop"
    return check


def transitions_once(shop: ShopState) -> Check:
    """Each move of the state machine at most once, and the moves an order made add up to its status."""
    check = Check("no order made a transition twice")
    moves = Counter()
    for order in shop.orders.values():
        lines = len(order.items)
        paid = sum(n for (_, outcome), n in order.events.items() if outcome == Outcome.PAID)
        shipped = sum(n for (kind, outcome), n in order.events.items() if kind == EventKind.SHIP)
        sold, released, repaid = (order.stock[StockReason.SALE], order.stock[StockReason.RELEASE],
                                  order.stock[StockReason.REPAID])
        problems = []
        if paid > 1:
            problems.append(f"paid {paid} times")
        if shipped > 1:
            problems.append(f"shipped {shipped} times")
        if sold != lines:
            problems.append(f"stock taken {sold} times for {lines} lines")
        if released not in (0, lines):
            problems.append(f"stock given back {released} times for {lines} lines")
        if repaid not in (0, released):
            problems.append(f"stock taken again {repaid} times after {released} given back")
        expected_paid = 1 if order.status in PAID else 0
        if paid != expected_paid:
            problems.append(f"{order.status} after {paid} paid transitions")
        if (order.status == OrderStatus.SHIPPED) != bool(shipped):
            problems.append(f"{order.status} after {shipped} ship transitions")
        if order.status == OrderStatus.CLOSED and released != lines:
            problems.append("closed without giving its stock back")
        if order.status in PAID and released and repaid != released:
            problems.append("paid after a close without taking its stock again")
        success = sum(r["amount_fen"] for r in shop.refunds.values()
                      if r["order_id"] == order.id and r["status"] == RefundStatus.SUCCESS and not r["extra"])
        if order.refunded_fen != success:
            problems.append(f"refunded_fen {order.refunded_fen}, its successful refunds {success}")
        check.problems += [f"order {order.number}: {problem}" for problem in problems]
        moves["paid"] += paid
        moves["shipped"] += shipped
        moves["closed"] += 1 if released else 0
    check.figures = f"{moves['paid']} paid, {moves['shipped']} shipped, {moves['closed']} closed transitions"
    return check


def stock_conserved(shop: ShopState, initial: dict[int, int]) -> Check:
    """initial == current + units in paid or shipped orders (not returned) + units held by pending orders."""
    check = Check("stock conserved")
    sold, held = Counter(), Counter()
    for order in shop.orders.values():
        for product_id, quantity in order.items:
            if order.status in PAID:
                sold[product_id] += quantity
            elif order.status == OrderStatus.PENDING:
                held[product_id] += quantity
    returned = Counter()  # the owner's 退回库存 with a refund: the load test returns none, but count them
    for product_id in initial:
        current = shop.stock[product_id]
        expected = initial[product_id] - sold[product_id] - held[product_id] + returned[product_id]
        if current != expected or current < 0:
            check.problems.append(f"product {product_id}: {current} in stock, {initial[product_id]} - "
                                  f"{sold[product_id]} sold - {held[product_id]} held = {expected}")
        if shop.log_change[product_id] != current - initial[product_id]:
            check.problems.append(f"product {product_id}: the stock log adds up to {shop.log_change[product_id]}, "
                                  f"the stock moved by {current - initial[product_id]}")
    check.figures = (f"{sum(initial.values())} units at the start = {sum(shop.stock[p] for p in initial)} in stock "
                     f"+ {sum(sold.values())} sold + {sum(held.values())} held")
    return check


def status_figures(status: str, orders: int, total_fen: int, refunded_fen: int) -> dict:
    """{(status, figure): amount}: what the kept totals and the orders are compared by."""
    return {(status, "orders"): orders, (status, "total_fen"): total_fen, (status, "refunded_fen"): refunded_fen}


def order_totals_kept(shop: ShopState) -> Check:
    """The owner's totals kept by the database's triggers, through every concurrent commit of the run, equal the
    orders themselves (per status; tests/test_order_totals.py checks the days)."""
    check = Check("the owner's order totals kept by the database equal the orders")
    live = Counter()
    for order in shop.orders.values():
        live.update(status_figures(order.status, 1, order.total_fen, order.refunded_fen))
    live = +live
    for key in sorted(set(live) | set(shop.kept_totals)):
        if live[key] != shop.kept_totals[key]:
            check.problems.append(f"{key[0]} {key[1]}: {shop.kept_totals[key]} kept, {live[key]} in the orders")
    check.figures = f"{len(shop.orders)} orders in {len({status for status, _ in live})} statuses"
    return check


def refunded_marked(shop: ShopState) -> Check:
    """The owner's 有退款 list (Order.has_refund, set with an order's first refund) holds exactly the orders
    with a refund."""
    check = Check("the orders marked refunded are the orders with a refund")
    refunded = {refund["order_id"] for refund in shop.refunds.values()}
    marked = {order.id for order in shop.orders.values() if order.has_refund}
    check.problems += [f"order {order_id}: has a refund, not marked" for order_id in sorted(refunded - marked)]
    check.problems += [f"order {order_id}: marked, has no refund" for order_id in sorted(marked - refunded)]
    check.figures = f"{len(marked)} marked, {len(refunded)} with a refund"
    return check


def refunds_equal(shop: ShopState, sandbox: dict[str, dict]) -> Check:
    check = Check("refunds equal on both sides")
    there = {refund["out_refund_no"]: (number, refund) for number, order in sandbox.items()
             for refund in order.get("refunds", [])}
    number_of = {order.id: order.number for order in shop.orders.values()}
    for out_refund_no, refund in shop.refunds.items():
        found = there.get(out_refund_no)
        if refund["status"] == RefundStatus.PROCESSING:
            check.problems.append(f"refund {out_refund_no}: still processing in the shop")
        if found is None:
            if refund["status"] == RefundStatus.SUCCESS:
                check.problems.append(f"refund {out_refund_no}: succeeded in the shop, unknown to the sandbox")
            continue
        _, theirs = found
        if theirs["status"] != refund["status"] or theirs["amount"]["refund"] != refund["amount_fen"]:
            check.problems.append(f"refund {out_refund_no}: {refund['status']} {refund['amount_fen']} fen in the "
                                  f"shop, {theirs['status']} {theirs['amount']['refund']} fen on the sandbox")
    for out_refund_no in sorted(set(there) - set(shop.refunds)):
        check.problems.append(f"refund {out_refund_no}: on the sandbox only")
    per_order_shop, per_order_sandbox = Counter(), Counter()
    for refund in shop.refunds.values():
        if refund["status"] == RefundStatus.SUCCESS:
            per_order_shop[number_of[refund["order_id"]]] += refund["amount_fen"]
    for number, refund in there.values():
        if refund["status"] == "SUCCESS":
            per_order_sandbox[number] += refund["amount"]["refund"]
    for order in shop.orders.values():
        mine = per_order_shop[order.number]
        theirs = sum(per_order_sandbox[number] for number in order.attempts)
        if mine != theirs:
            check.problems.append(f"order {order.number}: {mine} fen refunded in the shop, {theirs} on the sandbox")
    check.figures = (f"{sum(1 for r in shop.refunds.values() if r['status'] == RefundStatus.SUCCESS)} refunds, "
                     f"{sum(per_order_shop.values()) / 100:,.2f} yuan in the shop, "
                     f"{sum(per_order_sandbox.values()) / 100:,.2f} yuan on the sandbox")
    return check


def message_final(message: Message, cancels: dict) -> frozenset | None | str:
    """The final statuses a customer's message allows (ANY: any), or "unknown" for a text the table lacks."""
    text = message.text
    if message.where == "status poll":
        return POLL_FINAL.get(text, "unknown")
    if message.where == "order page":
        return LABEL_FINAL.get(text, "unknown")
    if message.where == "cancel":
        return cancels.get(text, "unknown")
    if text.startswith("订单 "):  # the order page's title: its status label is checked on its own
        return ANY
    return TITLE_FINAL.get(text, "unknown")


def owner_message_problem(message: Message, order: ShopOrder, shop: ShopState, sandbox: dict) -> str | None:
    """What is untrue about an owner's refund message, given how the refunds ended; None when it is true."""
    asked = message.refund["amount_fen"]
    refunds = {no: r for no, r in shop.refunds.items() if r["order_id"] == order.id}
    there = {refund["out_refund_no"]: refund for number in order.attempts
             for refund in sandbox.get(number, {}).get("refunds", [])}
    match = REFUND_ASKED.fullmatch(message.text) or REFUND_DONE.fullmatch(message.text)
    if match:
        amount, out_refund_no = fen(match.group(1)), match.group(2)
        mine, theirs = refunds.get(out_refund_no), there.get(out_refund_no)
        if amount != asked or not mine or mine["status"] != RefundStatus.SUCCESS or mine["amount_fen"] != amount \
                or not theirs or theirs["status"] != "SUCCESS":
            return f"refund {out_refund_no} of {amount} fen ended {mine and mine['status']} in the shop, " \
                   f"{theirs and theirs['status']} on the sandbox"
        return None
    if message.text == REFUND_UNANSWERED:
        ok = any(r["amount_fen"] == asked and r["status"] == RefundStatus.SUCCESS
                 and there.get(no, {}).get("status") == "SUCCESS" for no, r in refunds.items())
        return None if ok else f"no refund of {asked} fen succeeded after WeChat Pay did not answer"
    if message.text.endswith(REFUND_NOT_MADE):
        made = [no for no, r in refunds.items() if r["amount_fen"] == asked and r["status"] == RefundStatus.CLOSED]
        return None if made and all(no not in there for no in made) else "a refund said not made was made"
    if message.where == "refund form" and any(refusal in message.text for refusal in REFUND_FORM_REFUSALS):
        return None  # refused before WeChat Pay was asked: the money moved only by the refunds counted above
    return "a message the load test does not know"


def messages_true(traffic: Traffic, shop: ShopState, sandbox: dict) -> Check:
    check = Check("every customer and owner message matched the final state")
    by_token = {order.token: order for order in shop.orders.values()}
    cancels = cancel_final()
    shown = Counter()
    wrong = Counter()
    for message in traffic.messages:
        order = by_token.get(message.token)
        shown[message.who] += 1
        if order is None:
            check.problems.append(f"{message.where} {message.text!r} about an order the shop does not have")
            continue
        if message.who == "owner":
            problem = owner_message_problem(message, order, shop, sandbox)
        else:
            final = message_final(message, cancels)
            problem = ("a message the load test does not know" if final == "unknown"
                       else None if final is ANY or order.status in final
                       else f"the order ended {order.status}")
        if problem:
            key = (message.who, message.where, message.text, problem)
            wrong[key] += 1
            if wrong[key] == 1:
                check.problems.append(f"order {order.number}: {message.who} shown {message.text!r} "
                                      f"({message.where}), but {problem}")
    repeated = {key: n for key, n in wrong.items() if n > 1}
    for (who, where, text, problem), n in repeated.items():
        check.problems.append(f"... {who} shown {text!r} ({where}) {n} times in all with: {problem}")
    check.figures = f"{shown['customer']:,} customer messages, {shown['owner']} owner messages"
    return check
