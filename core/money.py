"""Money is integer fen everywhere; these are the only places it is turned into or read from yuan text."""
import re
from decimal import Decimal

YUAN_RE = re.compile(r"^(?:0|[1-9]\d{0,8})(?:\.\d{1,2})?$")


def fen_to_yuan(fen, thousands: str = "") -> str:
    """Integer fen -> '12.34' with integer arithmetic only (forms and CSV use it bare)."""
    fen = int(fen or 0)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:{thousands}}.{cents:02d}"


def format_fen(fen) -> str:
    """Integer fen -> '¥12.34': how every page shows an amount."""
    text = fen_to_yuan(fen, thousands=",")
    return "-¥" + text[1:] if text.startswith("-") else "¥" + text


def yuan_to_fen(text: str) -> int:
    """'12.3' -> 1230. Raise ValueError unless it is a plain amount with at most two decimals."""
    text = (text or "").strip().replace("，", ",").removeprefix("¥").removeprefix("￥").strip()
    if not YUAN_RE.match(text):
        raise ValueError(text)
    return int(Decimal(text) * 100)
