"""Daily reconciliation: one Beijing-time day of the shop compared with WeChat Pay's trade bill.

Every SUCCESS row must be an attempt the shop has as paid, with the same transaction_id and amount; every
REFUND row a refund the shop has; every payment and refund the shop recorded that day must be in the bill.
Where it is safe the difference is acted on — a payment the shop missed is applied through the one state
machine after a confirming query, a refund it missed is recorded — and everything else is flagged for the
owner. Running a day again changes nothing: what was acted on is kept, the rest is compared afresh.
"""
import logging
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select

from core.clock import china_day_start
from core.vocabulary import (
    AlertKind,
    AttemptStatus,
    BillRunStatus,
    DifferenceAction,
    DifferenceKind,
    PaymentErrorCode,
    RefundStatus,
)
from extensions import db
from models import BillDifference, BillRun, Order, PaymentAttempt, Refund
from payments import PaymentError, get_gateway
from services import alerts
from services.payment import PaymentMismatch, finish_reads, refresh_order
from services.refunds import kept_attempt, refresh_refund
from services.trade_bill import BillRow, parse_trade_bill
from services.use_case import use_case

log = logging.getLogger("shop.reconciliation")
# WeChat Pay makes bills from 09:00 the next day; before that it answers STATEMENT_CREATING: ask again later.
RETRY_AFTER = timedelta(minutes=30)


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """The Beijing-time day as naive UTC, as the database stores times."""
    return china_day_start(day), china_day_start(day + timedelta(days=1))


def run_for(day: date, now: datetime) -> BillRun:
    run = db.session.scalar(select(BillRun).filter_by(bill_date=day))
    if run is None:
        run = BillRun(bill_date=day, status=BillRunStatus.NOT_READY, created_at=now)
        db.session.add(run)
        db.session.flush()
    return run


@use_case
def reconcile_day(day: date, now: datetime) -> BillRun:
    """Fetch the day's trade bill and compare; the run's status says what came of it. Commits."""
    run_id = run_for(day, now).id
    finish_reads()
    try:
        bill = get_gateway().trade_bill(day)
        rows, totals = parse_trade_bill(bill.text)
    except PaymentError as error:
        return record_unavailable(run_id, day, now, error)
    except ValueError as unreadable:
        return finish(run_id, now, BillRunStatus.FAILED, error=str(unreadable)[:200], retry=True)
    run = db.session.get(BillRun, run_id)
    run.hash_value, run.bill_text = bill.hash_value, bill.text
    run.bill_payments = sum(1 for row in rows if row.is_payment)
    run.bill_refunds = sum(1 for row in rows if row.is_refund)
    run.bill_paid_fen = sum(row.amount_fen for row in rows if row.is_payment)
    run.bill_refunded_fen = sum(row.refund_fen for row in rows if row.is_refund)
    db.session.commit()
    compare(run_id, day, rows, now)
    return db.session.get(BillRun, run_id)


def record_unavailable(run_id: int, day: date, now: datetime, error: PaymentError) -> BillRun:
    if error.code == PaymentErrorCode.STATEMENT_CREATING:
        return finish(run_id, now, BillRunStatus.NOT_READY, error=error.message, retry=True)
    if error.code == PaymentErrorCode.NO_STATEMENT_EXIST:
        # No trades on WeChat Pay's side: anything the shop recorded as paid that day is a difference.
        compare(run_id, day, [], now)
        run = db.session.get(BillRun, run_id)
        if run.status == BillRunStatus.MATCHED:
            run.status = BillRunStatus.NO_BILL
            db.session.commit()
        return run
    return finish(run_id, now, BillRunStatus.FAILED, error=f"{error.code}: {error.message}"[:200], retry=True)


def finish(run_id: int, now: datetime, status: BillRunStatus, error: str = "", retry: bool = False) -> BillRun:
    run = db.session.get(BillRun, run_id)
    run.status, run.error, run.tries = status, error, run.tries + 1
    run.next_try_at = now + RETRY_AFTER if retry else None
    run.finished_at = None if retry else now
    db.session.commit()
    log.info("reconciliation %s: %s %s", run.bill_date, status, error)
    return run


def compare(run_id: int, day: date, rows: list[BillRow], now: datetime) -> None:
    """Record the day's differences (acting where safe) and both sides' totals; alert the owner to the ones
    to check that an earlier run of the day had not already found; commits."""
    flagged_before = {(d.kind, d.out_trade_no, d.out_refund_no) for d in db.session.scalars(
        select(BillDifference).filter_by(run_id=run_id, action=DifferenceAction.FLAGGED))}
    db.session.execute(delete(BillDifference).where(BillDifference.run_id == run_id,
                                                    BillDifference.action == DifferenceAction.FLAGGED))
    kept = {(d.kind, d.out_trade_no, d.out_refund_no) for d in
            db.session.scalars(select(BillDifference).filter_by(run_id=run_id))}
    found = []
    for row in rows:
        if row.is_payment:
            found += payment_differences(row, now)
        elif row.is_refund:
            found += refund_differences(row, now)
    found += shop_only_differences(day, rows)
    run = db.session.get(BillRun, run_id)
    for difference in found:
        if (difference.kind, difference.out_trade_no, difference.out_refund_no) not in kept:
            run.differences.append(difference)
    start, end = day_bounds_utc(day)
    paid = shop_payments(start, end)
    refunds = shop_refunds(start, end)
    run.shop_payments, run.shop_paid_fen = len(paid), sum(total for _, total in paid)
    run.shop_refunds, run.shop_refunded_fen = len(refunds), sum(refund.amount_fen for refund in refunds)
    run.status = BillRunStatus.DIFFERENCES if run.differences else BillRunStatus.MATCHED
    run.tries, run.next_try_at, run.finished_at, run.error = run.tries + 1, None, now, ""
    flagged = [d for d in run.differences if d.action == DifferenceAction.FLAGGED]
    new = [d for d in flagged if (d.kind, d.out_trade_no, d.out_refund_no) not in flagged_before]
    if new:
        alerts.enqueue(AlertKind.BILL_DIFFERENCES, now=now, path=f"/admin/reconciliation/{day.isoformat()}",
                       message=f"{day:%Y-%m-%d} 的微信支付账单与本店记录有 {len(flagged)} 处差异需要核对"
                               f"（新发现 {len(new)} 处）：" + "；".join(difference_line(d) for d in new[:5]))
    db.session.commit()  # the alert with the differences it reports
    if flagged:
        log.warning("reconciliation %s: %d differences for the owner to check", day, len(flagged))


def difference_line(found: BillDifference) -> str:
    return f"{DifferenceKind.label_of(found.kind)} {found.out_refund_no or found.out_trade_no or ''}".strip()


def difference(kind: DifferenceKind, action: DifferenceAction, order_id=None, row: BillRow | None = None,
               **values) -> BillDifference:
    if row is not None:
        values.setdefault("out_trade_no", row.out_trade_no)
        values.setdefault("transaction_id", row.transaction_id or None)
        values.setdefault("out_refund_no", row.out_refund_no or None)
    return BillDifference(kind=kind, action=action, order_id=order_id, **values)


def payment_differences(row: BillRow, now: datetime) -> list[BillDifference]:
    attempt = db.session.scalar(select(PaymentAttempt).filter_by(out_trade_no=row.out_trade_no))
    if attempt is None:
        return [difference(DifferenceKind.UNKNOWN_PAYMENT, DifferenceAction.FLAGGED, row=row, bill_fen=row.amount_fen)]
    order = attempt.order
    found = []
    if attempt.status != AttemptStatus.PAID:
        found.append(confirm_missed_payment(attempt, row, now))
        attempt = db.session.get(PaymentAttempt, attempt.id)
        order = attempt.order
    elif attempt.transaction_id != row.transaction_id:
        found.append(difference(DifferenceKind.TRANSACTION_MISMATCH, DifferenceAction.FLAGGED, order.id, row,
                                note=f"本店记录的微信支付单号 {attempt.transaction_id}"))
    if row.amount_fen != order.total_fen:
        found.append(difference(DifferenceKind.AMOUNT_MISMATCH, DifferenceAction.FLAGGED, order.id, row,
                                bill_fen=row.amount_fen, shop_fen=order.total_fen))
    return found


def confirm_missed_payment(attempt: PaymentAttempt, row: BillRow, now: datetime) -> BillDifference:
    """A payment in the bill the shop has not applied: ask WeChat Pay, and apply what it confirms."""
    order_id = attempt.order_id
    try:
        refresh_order(db.session.get(Order, order_id), now)
    except (PaymentError, PaymentMismatch) as error:
        note = f"确认查询失败：{getattr(error, 'code', type(error).__name__)}"
    else:
        note = ""
    applied = db.session.scalar(select(PaymentAttempt.status).filter_by(id=attempt.id)) == AttemptStatus.PAID
    action = DifferenceAction.APPLIED if applied else DifferenceAction.FLAGGED
    return difference(DifferenceKind.MISSING_PAYMENT, action, order_id, row, bill_fen=row.amount_fen,
                      note=note or ("已向微信支付查询确认并补记为已支付" if applied else "查询仍显示未支付，请核对"))


def refund_differences(row: BillRow, now: datetime) -> list[BillDifference]:
    refund = db.session.scalar(select(Refund).filter_by(out_refund_no=row.out_refund_no))
    if refund is None:
        return [record_missed_refund(row, now)]
    if refund.amount_fen != row.refund_fen:
        return [difference(DifferenceKind.REFUND_MISMATCH, DifferenceAction.FLAGGED, refund.order_id, row,
                           bill_fen=row.refund_fen, shop_fen=refund.amount_fen)]
    if refund.status == RefundStatus.PROCESSING and row.refund_status == RefundStatus.SUCCESS:
        try:
            refresh_refund(refund, now)
        except PaymentError:
            pass
        if db.session.scalar(select(Refund.status).filter_by(id=refund.id)) != RefundStatus.SUCCESS:
            return [difference(DifferenceKind.REFUND_MISMATCH, DifferenceAction.FLAGGED, refund.order_id, row,
                               bill_fen=row.refund_fen, shop_fen=refund.amount_fen,
                               note="账单显示退款成功，查询未确认")]
    return []


def record_missed_refund(row: BillRow, now: datetime) -> BillDifference:
    """A refund made outside the shop (the merchant platform): record it, so the order says what happened."""
    attempt = db.session.scalar(select(PaymentAttempt).filter_by(out_trade_no=row.out_trade_no))
    if attempt is None:
        return difference(DifferenceKind.MISSING_REFUND, DifferenceAction.FLAGGED, None, row,
                          bill_fen=row.refund_fen, note="账单中的商户订单号本店没有")
    order = attempt.order
    kept = kept_attempt(order) if order.transaction_id else None
    extra = kept is not None and kept.id != attempt.id
    success = row.refund_status == RefundStatus.SUCCESS
    if not extra and success and order.refunded_fen + row.refund_fen > order.total_fen:
        return difference(DifferenceKind.MISSING_REFUND, DifferenceAction.FLAGGED, order.id, row,
                          bill_fen=row.refund_fen, note="退款会超过订单金额，未记录，请核对")
    db.session.add(Refund(
        order_id=order.id, attempt_id=attempt.id, extra_payment=extra, out_refund_no=row.out_refund_no,
        amount_fen=row.refund_fen, reason="对账发现：商户平台发起的退款", created_at=now,
        status=RefundStatus.SUCCESS if success else RefundStatus.PROCESSING,
        succeeded_at=now if success else None, next_query_at=None if success else now,
    ))
    if success and not extra:
        order.refunded_fen += row.refund_fen
    db.session.flush()
    return difference(DifferenceKind.MISSING_REFUND, DifferenceAction.RECORDED, order.id, row,
                      bill_fen=row.refund_fen, note="已记入订单的退款记录")


def shop_payments(start: datetime, end: datetime) -> list[tuple[str, int]]:
    """(out_trade_no, amount) of every payment the shop recorded that day, the order's and any second one."""
    return list(db.session.execute(
        select(PaymentAttempt.out_trade_no, Order.total_fen).join(Order, Order.id == PaymentAttempt.order_id)
        .where(PaymentAttempt.status == AttemptStatus.PAID, PaymentAttempt.paid_at >= start,
               PaymentAttempt.paid_at < end)
    ).tuples())


def shop_refunds(start: datetime, end: datetime) -> list[Refund]:
    return list(db.session.scalars(select(Refund).where(
        Refund.created_at >= start, Refund.created_at < end,
        Refund.status.in_([RefundStatus.PROCESSING, RefundStatus.SUCCESS]))))


def shop_only_differences(day: date, rows: list[BillRow]) -> list[BillDifference]:
    start, end = day_bounds_utc(day)
    in_bill = {row.out_trade_no for row in rows if row.is_payment}
    refunds_in_bill = {row.out_refund_no for row in rows if row.is_refund}
    found = []
    for out_trade_no, total_fen in shop_payments(start, end):
        if out_trade_no not in in_bill:
            order_id = db.session.scalar(select(PaymentAttempt.order_id).filter_by(out_trade_no=out_trade_no))
            found.append(difference(DifferenceKind.MISSING_IN_BILL, DifferenceAction.FLAGGED, order_id,
                                    out_trade_no=out_trade_no, shop_fen=total_fen))
    for refund in shop_refunds(start, end):
        if refund.status == RefundStatus.SUCCESS and refund.out_refund_no not in refunds_in_bill:
            found.append(difference(DifferenceKind.REFUND_MISSING_IN_BILL, DifferenceAction.FLAGGED, refund.order_id,
                                    out_refund_no=refund.out_refund_no, shop_fen=refund.amount_fen))
    return found
