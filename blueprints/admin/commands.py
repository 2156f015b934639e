"""`flask create-owner`, and the development owner `make run` creates and prints."""
import os
import secrets
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from models import Owner
from services import owners
from services.passwords import password_problem

DEV_OWNER_USERNAME = "admin"
DEV_PASSWORD_FILE = "dev_owner_password"


def check_username(username: str) -> str:
    """Click callback: refuse a bad user name at once (a prompt asks again)."""
    username = (username or "").strip()
    problem = owners.username_problem(username)
    if problem:
        raise click.BadParameter(problem)
    return username


def check_password(ctx, password: str) -> str:
    """Click callback: refuse a weak password at once (a prompt asks again). The service checks it again."""
    problem = password_problem(password, ctx.params.get("username"))
    if problem:
        raise click.BadParameter(problem)
    return password


@click.command("create-owner")
@click.option("--username", prompt="用户名", default="admin", show_default=True,
              callback=lambda ctx, param, value: check_username(value), help="店主登录用的用户名")
@click.option("--password", prompt="密码", hide_input=True, confirmation_prompt="再输入一次密码",
              envvar="SHOP_OWNER_PASSWORD", callback=lambda ctx, param, value: check_password(ctx, value),
              help="密码（不给则交互输入；脚本里也可用环境变量 SHOP_OWNER_PASSWORD）")
@click.option("--reset", is_flag=True, help="用户名已存在时改为重设它的密码（并让它所有已登录的会话失效）")
@with_appcontext
def create_owner(username, password, reset):
    """Create the shop owner's account (or reset its password with --reset)."""
    try:
        done = create_or_reset(username, password, reset)
    except owners.OwnerRefused as refused:
        raise click.ClickException(refused.message) from None
    click.echo(f"店主 {username} 的{done}。登录地址：/admin/login")


def create_or_reset(username: str, password: str, reset: bool) -> str:
    """Create the account or, with ``reset``, give the existing one a new password; say which, for the owner."""
    try:
        owners.create_owner(username, password)
        return "账号已创建"
    except owners.OwnerExists:
        if not reset:
            raise
    owners.reset_password(username, password)
    return "密码已重设，所有已登录的会话都已退出"


def ensure_dev_owner(app) -> tuple[str, str] | None:
    """Development only: make sure an owner exists and return (username, password) to print, or None.

    With no owner at all, creates ``admin`` with a random password saved in
    instance/dev_owner_password (mode 0600) and returns it; on later runs returns the same pair while
    that file still matches. Returns None when an owner was made another way (`flask create-owner`)
    or when SHOP_ENV is production.
    """
    if os.environ.get("SHOP_ENV", "development") == "production":
        return None
    path = Path(app.instance_path) / DEV_PASSWORD_FILE
    with app.app_context():
        owner = db.session.scalar(select(Owner).filter_by(username=DEV_OWNER_USERNAME))
        if owner is not None:
            if path.exists():
                password = path.read_text(encoding="utf-8").strip()
                if password and owner.check_password(password):
                    return DEV_OWNER_USERNAME, password
            return None
        if db.session.scalar(select(func.count()).select_from(Owner)):
            return None
        password = secrets.token_urlsafe(12)
        while password_problem(password, DEV_OWNER_USERNAME):  # all digits, or "admin" inside: hardly ever
            password = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(password + "\n")
        owners.create_owner(DEV_OWNER_USERNAME, password)
        return DEV_OWNER_USERNAME, password


def dev_owner_banner(app, shop_url="http://127.0.0.1:5000") -> str:
    """The line `make run` prints about the owner's pages."""
    login_url = f"{shop_url}/admin/login"
    try:
        credentials = ensure_dev_owner(app)
    except SQLAlchemyError:
        return f" * 店主后台: {login_url}   数据库还没有建表：先运行 `make db`（或 flask db upgrade）"
    if credentials:
        username, password = credentials
        return (f" * 店主后台: {login_url}   用户名 {username}   密码 {password}"
                f"（开发用，保存在 instance/{DEV_PASSWORD_FILE}）")
    return (f" * 店主后台: {login_url}   用 `flask create-owner` 创建的账号登录"
            "（再建一个：.venv/bin/flask create-owner）")
