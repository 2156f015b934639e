"""Jinja filters and globals: the one place money and times are formatted."""
from datetime import timezone

from flask import session

from models.base import CHINA_TZ


def fen_to_yuan(fen, thousands=""):
    """Integer fen -> '12.34' with integer arithmetic only (forms and CSV use it bare)."""
    fen = int(fen or 0)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:{thousands}}.{cents:02d}"


def format_fen(fen):
    """Integer fen -> '¥12.34'. The one money formatter of every page."""
    text = fen_to_yuan(fen, thousands=",")
    return "-¥" + text[1:] if text.startswith("-") else "¥" + text


def format_local_time(value, fmt="%Y-%m-%d %H:%M"):
    """Naive-UTC timestamp -> Beijing time text."""
    if value is None:
        return ""
    return value.replace(tzinfo=timezone.utc).astimezone(CHINA_TZ).strftime(fmt)


def register_template_helpers(app):
    app.add_template_filter(format_fen, "money")
    app.add_template_filter(format_local_time, "localtime")

    @app.context_processor
    def shop_globals():
        from blueprints.cart.store import cart_count

        return {"shop_name": app.config["SHOP_NAME"], "cart_count": cart_count(session)}
