"""Jinja filters and globals: the money and Beijing-time filters, the labels and the header's cart count."""
from flask import session

from core.clock import format_local_time
from core.money import format_fen
from core.vocabulary import VOCABULARIES, courier_text, state_label
from services.cart import cart_count


def invalid_fields(form) -> list:
    """The fields of ``form`` a person can fix that have errors, in the form's order (hidden ones aside)."""
    if form is None:
        return []
    return [field for field in form if field.errors and field.type not in ("HiddenField", "CSRFTokenField")]


def register_template_helpers(app):
    app.add_template_filter(format_fen, "money")
    app.add_template_filter(format_local_time, "localtime")
    app.add_template_filter(state_label, "state_label")
    for vocabulary in VOCABULARIES:  # templates read labels as OrderStatus.label_of(value) and so on
        app.add_template_global(vocabulary, vocabulary.__name__)
    app.add_template_global(courier_text, "courier_text")
    app.add_template_global(invalid_fields, "invalid_fields")

    @app.context_processor
    def shop_globals():
        return {"shop_name": app.config["SHOP_NAME"], "cart_count": cart_count(session)}
