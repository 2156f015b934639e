"""Jinja filters and globals: the money and Beijing-time filters, the labels and the header's cart count."""
from flask import session

from core.clock import format_local_time
from core.money import format_fen
from core.vocabulary import VOCABULARIES, courier_text, state_label
from services.cart import cart_count


def register_template_helpers(app):
    app.add_template_filter(format_fen, "money")
    app.add_template_filter(format_local_time, "localtime")
    app.add_template_filter(state_label, "state_label")
    for vocabulary in VOCABULARIES:  # templates read labels as OrderStatus.label_of(value) and so on
        app.add_template_global(vocabulary, vocabulary.__name__)
    app.add_template_global(courier_text, "courier_text")

    @app.context_processor
    def shop_globals():
        return {"shop_name": app.config["SHOP_NAME"], "cart_count": cart_count(session)}
