"""The owner's alerts: which channels are on, recent alerts with every attempt, a test alert, retry."""
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from blueprints.admin import bp
from blueprints.forms import EmptyForm
from core.clock import utcnow
from extensions import db
from models import Outbox
from services import alerts

RECENT = 100


def alerts_page():
    """Recent alerts, newest first, each with its attempts."""
    rows = db.session.scalars(
        select(Outbox).options(selectinload(Outbox.tries), selectinload(Outbox.order))
        .order_by(Outbox.id.desc()).limit(RECENT)
    ).all()
    config = current_app.config
    return render_template("admin/alerts.html", rows=rows, channels=alerts.configured_channels(),
                           smtp_to=config.get("ALERT_SMTP_TO"), form=EmptyForm())


bp.add_url_rule("/alerts", endpoint="alerts", view_func=alerts_page)


@bp.post("/alerts/test")
def alert_test():
    """Queue a test alert on every configured channel (the jobs process sends it within a minute)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    count = alerts.send_test_alert(current_user.username, utcnow())
    if count:
        flash(f"测试提醒已排队（{count} 个渠道），后台任务会在一分钟内发出，结果见下表。", "success")
    else:
        flash("还没有开启任何提醒渠道：请先在环境变量中设置企业微信机器人或邮件（见 README）。", "error")
    return redirect(url_for("admin.alerts"), 303)


@bp.post("/alerts/<int:outbox_id>/retry")
def alert_retry(outbox_id):
    """Send a given-up (or waiting) alert again at the next run."""
    db.get_or_404(Outbox, outbox_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if alerts.retry_now(outbox_id, utcnow()):
        flash("已安排重新发送。", "success")
    else:
        flash("这条提醒已经发送成功，不再重发。", "info")
    return redirect(url_for("admin.alerts"), 303)
