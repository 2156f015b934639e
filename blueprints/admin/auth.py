"""Owner login and logout, with a per-account-and-IP limit on failed attempts."""
import math
from datetime import timedelta
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from blueprints.admin import bp
from blueprints.admin.forms import LoginForm
from blueprints.forms import EmptyForm
from core.clock import utcnow
from extensions import db
from models import LoginFailure, Owner
from services.owner_login import log_out_everywhere

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
# Failure rows older than this are deleted when new ones are written.
FAILURE_RETENTION = timedelta(days=1)
# Checked when the username is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-the-password")


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site ("/..."), else None: no open redirects."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers treat "\" like "/" and drop tabs and newlines, so "/\evil" or "/\t/evil" leave the site.
    if "\\" in target or any(ord(char) < 0x21 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def client_ip() -> str:
    return (request.remote_addr or "unknown")[:45]


def recent_failures(username: str, ip: str, now) -> list[LoginFailure]:
    return list(db.session.scalars(
        select(LoginFailure)
        .where(LoginFailure.username == username, LoginFailure.ip == ip,
               LoginFailure.created_at > now - FAILURE_WINDOW)
        .order_by(LoginFailure.created_at)
    ))


def locked_response(form, failures, now):
    unlock_at = failures[0].created_at + FAILURE_WINDOW if failures else now + FAILURE_WINDOW
    seconds = max(1, math.ceil((unlock_at - now).total_seconds()))
    minutes = math.ceil(seconds / 60)
    form.password.data = ""
    response = render_template(
        "admin/login.html", form=form,
        error=f"登录失败次数过多，该账号在本机已被暂时锁定，请 {minutes} 分钟后再试。",
    ), 429, {"Retry-After": str(seconds)}
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; log the owner in and go to next= (a path on this site) or the order list."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    target = safe_next(form.next.data) or url_for("admin.orders")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target)
    if not form.validate_on_submit():
        return render_template("admin/login.html", form=form), 400 if form.is_submitted() else 200

    now = utcnow()
    username = form.username.data.strip()
    ip = client_ip()
    # The attempt is written before the password is checked, so of many attempts racing at once at
    # most MAX_FAILURES get to check a password. A success deletes its own row and nothing else.
    attempt = LoginFailure(username=username, ip=ip, created_at=now)
    db.session.add(attempt)
    db.session.commit()
    failures = recent_failures(username, ip, now)
    if len(failures) > MAX_FAILURES:
        db.session.delete(attempt)  # attempts refused while locked do not extend the lock
        db.session.commit()
        return locked_response(form, [f for f in failures if f.id != attempt.id], now)

    owner = db.session.scalar(select(Owner).filter_by(username=username))
    valid = owner.check_password(form.password.data) if owner else check_password_hash(_DUMMY_HASH, form.password.data)
    if valid:
        db.session.delete(attempt)
        db.session.commit()
        login_user(owner)
        flash("已登录。", "success")
        return redirect(target)

    db.session.execute(delete(LoginFailure).where(LoginFailure.created_at < now - FAILURE_RETENTION))
    db.session.commit()
    if len(failures) >= MAX_FAILURES:
        return locked_response(form, failures, now)
    left = MAX_FAILURES - len(failures)
    form.password.data = ""
    return render_template(
        "admin/login.html", form=form, error=f"用户名或密码错误。再失败 {left} 次，将暂时锁定 15 分钟。",
    ), 200


@bp.post("/logout")
def logout():
    """Log the owner out everywhere: every session of theirs, on any device, ends with this one."""
    if EmptyForm().validate_on_submit():
        log_out_everywhere(current_user.id)
        logout_user()
        flash("已退出登录。", "info")
    return redirect(url_for("admin.login"))

