"""Rate-limit counters shared by every web worker and process (when Redis is not configured)."""
from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class RateLimitCounter(Base):
    """One fixed-window counter: ``count`` hits of ``key`` until ``expires_at`` (Unix seconds)."""

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
