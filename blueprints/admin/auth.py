"""Owner login and logout. The limits on failed attempts and the session versions live in services/owner_login."""
import math
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from blueprints.admin import bp
from blueprints.admin.forms import LoginForm
from blueprints.forms import EmptyForm
from core.clock import utcnow
from services.owner_login import LoginOutcome, attempt_login, log_out_everywhere


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


def login_page(form, error=None, focus="username"):
    """The login form; ``focus`` names the input that gets autofocus (where the owner types next)."""
    form.password.data = ""
    return render_template("admin/login.html", form=form, error=error, focus=focus)


def locked_page(form, message: str, retry_after: int):
    minutes = math.ceil(retry_after / 60)
    return login_page(form, error=message.format(minutes=minutes)), 429, {"Retry-After": str(retry_after)}


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
        focus = "password" if form.password.errors and not form.username.errors else "username"
        return login_page(form, focus=focus), 400 if form.is_submitted() else 200

    result = attempt_login(form.username.data.strip(), form.password.data, client_ip(), utcnow())
    match result.outcome:
        case LoginOutcome.LOGGED_IN:
            login_user(result.owner)
            flash("已登录。", "success")
            return redirect(target)
        case LoginOutcome.WRONG_CREDENTIALS:
            minutes = current_app.config["LOGIN_FAILURE_WINDOW_MINUTES"]
            error = f"用户名或密码错误。再失败 {result.failures_left} 次，将暂时锁定 {minutes} 分钟。"
            return login_page(form, error=error, focus="password"), 200
        case LoginOutcome.LOCKED_HERE:
            return locked_page(form, "登录失败次数过多，该账号在本机已被暂时锁定，请 {minutes} 分钟后再试。",
                               result.retry_after)
        case LoginOutcome.ACCOUNT_LOCKED:
            return locked_page(form, "该账号在多处登录失败次数过多，已暂时锁定，所有设备都无法登录，"
                                     "请 {minutes} 分钟后再试。", result.retry_after)


@bp.post("/logout")
def logout():
    """Log the owner out everywhere: every session of theirs, on any device, ends with this one."""
    if EmptyForm().validate_on_submit():
        log_out_everywhere(current_user.id)
        logout_user()
        flash("已退出登录。", "info")
    return redirect(url_for("admin.login"))
