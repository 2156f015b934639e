"""The owner's reconciliation pages: each day against WeChat Pay's trade bill, its differences, re-runs."""
from datetime import date, timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from blueprints.admin import bp
from blueprints.forms import EmptyForm
from core.clock import to_china_time, utcnow
from core.vocabulary import BillRunStatus, DifferenceAction
from extensions import db
from models import BillRun
from services.reconciliation import reconcile_day

# WeChat Pay keeps trade bills for three months.
OLDEST_BILL = timedelta(days=92)
RUN_MESSAGES = {
    BillRunStatus.MATCHED: ("{day} 与微信支付账单一致。", "success"),
    BillRunStatus.DIFFERENCES: ("{day} 对账发现差异，请查看下方列表。", "error"),
    BillRunStatus.NO_BILL: ("{day} 微信支付没有交易，本店也没有收款。", "info"),
    BillRunStatus.NOT_READY: ("{day} 的账单还没有生成（次日 9 点后生成），稍后会自动重试。", "info"),
    BillRunStatus.FAILED: ("{day} 的账单暂时无法获取：{error}。稍后会自动重试。", "error"),
}


def bill_day(text: str, viewing: bool = False) -> date:
    """A day the owner may reconcile: yesterday or earlier (its bill exists), within WeChat Pay's three months.

    Viewing also allows today, for a run the jobs made early (WeChat Pay's bill is still being made then).
    """
    try:
        day = date.fromisoformat(text)
    except ValueError:
        abort(400, description="日期格式应为 2026-11-26")
    today = to_china_time(utcnow()).date()
    if not today - OLDEST_BILL <= day <= (today if viewing else today - timedelta(days=1)):
        abort(400, description="只能对账昨天及以前、三个月以内的日期")
    return day


@bp.get("/reconciliation")
def reconciliation():
    """Every day compared so far, newest first, with both sides' totals."""
    runs = db.session.scalars(select(BillRun).order_by(BillRun.bill_date.desc()).limit(100)).all()
    yesterday = to_china_time(utcnow()).date() - timedelta(days=1)
    return render_template("admin/reconciliation.html", runs=runs, form=EmptyForm(), yesterday=yesterday)


@bp.get("/reconciliation/<day>")
def reconciliation_day(day):
    """One day: the totals, the differences (with their orders) and what was done about each."""
    run = db.first_or_404(select(BillRun).filter_by(bill_date=bill_day(day, viewing=True)))
    return render_template("admin/reconciliation_day.html", run=run, form=EmptyForm(),
                           flagged=DifferenceAction.FLAGGED)


@bp.post("/reconciliation/run")
def run_reconciliation():
    """Compare a day (again) now."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    day = bill_day(request.form.get("day", ""))
    run = reconcile_day(day, utcnow())
    message, category = RUN_MESSAGES[BillRunStatus(run.status)]
    flash(message.format(day=day.isoformat(), error=run.error), category)
    return redirect(url_for("admin.reconciliation_day", day=day.isoformat()), 303)


@bp.get("/reconciliation/<day>/bill.csv")
def download_bill(day):
    """The trade bill as WeChat Pay sent it (uncompressed)."""
    run = db.first_or_404(select(BillRun).filter_by(bill_date=bill_day(day, viewing=True)))
    if not run.bill_text:
        abort(404)
    return Response(run.bill_text.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="tradebill-{day}.csv"'})
