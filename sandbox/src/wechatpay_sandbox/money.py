"""Money is integer fen; this is the one place it is shown (pages, the pay sheet, the H5 cashier)."""


def yuan(fen: int | None) -> str:
    """Format integer fen as ¥12.34."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"
