"""The shop owner's account and failed-login records for rate limiting."""
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from core.clock import utcnow
from models.base import Base


class Owner(UserMixin, Base):
    __tablename__ = "owner"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Stored in every session of this owner; raising it (logout, password reset) ends them all.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: "<id>:<session_version>"."""
        return f"{self.id}:{self.session_version}"

    @staticmethod
    def parse_session_key(key: str) -> tuple[int, int] | None:
        """``get_id()``'s text -> (id, session_version); None for anything else (older sessions held the bare id)."""
        owner_id, colon, version = (key or "").partition(":")
        if not (colon and owner_id.isdecimal() and version.isdecimal()):
            return None
        return int(owner_id), int(version)


class LoginFailure(Base):
    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), index=True)
    ip: Mapped[str] = mapped_column(String(45), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
