"""Time: naive UTC in the database, Beijing time for people and for WeChat Pay."""
from datetime import date, datetime, time, timedelta, timezone

# Beijing time: how customers read times and how WeChat Pay writes them (RFC 3339, +08:00).
CHINA_TZ = timezone(timedelta(hours=8))


def utcnow() -> datetime:
    """Now in UTC, naive: every timestamp column stores naive UTC on SQLite and PostgreSQL alike."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_china_time(value: datetime) -> datetime:
    """Naive UTC (or aware) -> aware Beijing time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(CHINA_TZ)


def format_local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Naive-UTC timestamp -> Beijing time text ('' for None)."""
    return "" if value is None else to_china_time(value).strftime(fmt)


def rfc3339(moment: datetime) -> str:
    """Naive-UTC or aware datetime -> '2026-11-27T20:30:00+08:00', the form WeChat Pay documents."""
    return to_china_time(moment).replace(microsecond=0).isoformat()


def parse_rfc3339(text: str | None) -> datetime | None:
    """RFC 3339 text -> naive UTC (None for empty)."""
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(timezone.utc).replace(tzinfo=None)


def china_day_start(day: date) -> datetime:
    """Midnight of a Beijing-time calendar day, as the naive UTC the database stores."""
    return datetime.combine(day, time.min, tzinfo=CHINA_TZ).astimezone(timezone.utc).replace(tzinfo=None)
