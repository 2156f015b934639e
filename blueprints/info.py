"""The shop's information pages: 配送说明, 退换货政策, and the favicon browsers ask for at /favicon.ico."""
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template

bp = Blueprint("info", __name__)


def policy_paragraphs(setting: str) -> list[str] | None:
    """The owner's policy text (a UTF-8 file named by ``setting``), as paragraphs; None for the default wording."""
    path = current_app.config.get(setting)
    if not path:
        return None
    text = Path(path).read_text(encoding="utf-8")
    return [paragraph.strip() for paragraph in text.split("\n\n") if paragraph.strip()]


@bp.get("/help/shipping")
def shipping():
    """Show the shipping policy: the fee and free-shipping threshold from the settings, or the owner's text."""
    return render_template("info/shipping.html", paragraphs=policy_paragraphs("SHIPPING_POLICY_FILE"))


@bp.get("/help/returns")
def returns():
    """Show the return and refund policy."""
    return render_template("info/returns.html", paragraphs=policy_paragraphs("RETURN_POLICY_FILE"))


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for by default (the pages also link static/favicon.svg). 4 KB, read whole."""
    icon = (Path(current_app.static_folder) / "favicon.ico").read_bytes()
    return Response(icon, mimetype="image/vnd.microsoft.icon", headers={"Cache-Control": "public, max-age=604800"})
