"""Money is integer fen; this is the one place it becomes text (pages, the pay sheet, the cashier, bills)."""


def decimal_text(fen: int) -> str:
    """Integer fen as yuan with two decimals, signed: 1999 -> "19.99", -3 -> "-0.03"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def yuan(fen: int | None) -> str:
    """Integer fen as shown to people: ¥19.99."""
    if fen is None:
        return ""
    text = decimal_text(fen)
    return "-¥" + text[1:] if text.startswith("-") else "¥" + text
