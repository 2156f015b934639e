"""Owner accounts: creating one, and setting a new password, which also ends every session of the owner."""
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import Owner
from services.owner_login import revoke_sessions
from services.passwords import password_problem
from services.use_case import use_case

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,40}$")


class OwnerRefused(Exception):
    """The account cannot be created or changed as asked; the message (Chinese) says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class OwnerExists(OwnerRefused):
    """An owner with this user name exists already."""


def username_problem(username: str | None) -> str | None:
    """Why ``username`` may not be an owner's user name, in Chinese; None when it may."""
    if not USERNAME_RE.match(username or ""):
        return "用户名须为 1–40 个字母、数字或 _ . @ -"
    return None


def check_new_credentials(username: str, password: str) -> None:
    problem = username_problem(username) or password_problem(password, username)
    if problem:
        raise OwnerRefused(problem)


@use_case
def create_owner(username: str, password: str) -> int:
    """Create an owner account; commit. Returns its id. Raises OwnerRefused (OwnerExists if the name is taken)."""
    check_new_credentials(username, password)
    owner = Owner(username=username)
    owner.set_password(password)
    db.session.add(owner)
    try:
        db.session.commit()
    except IntegrityError:
        # The unique user name decides, also between two commands run at once.
        db.session.rollback()
        raise OwnerExists(f"店主 {username} 已存在；要重设密码请加 --reset。") from None
    return owner.id


@use_case
def reset_password(username: str, password: str) -> int:
    """Give an existing owner a new password and end all their sessions; commit. Returns the owner's id."""
    check_new_credentials(username, password)
    owner = db.session.scalar(select(Owner).filter_by(username=username))
    if owner is None:
        raise OwnerRefused(f"没有用户名为 {username} 的店主。")
    owner.set_password(password)
    db.session.flush()
    revoke_sessions(owner.id)
    db.session.commit()
    return owner.id
