"""Cart forms: every change to the cart is a CSRF-protected POST."""
from flask import current_app
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange, StopValidation
from wtforms.widgets import HiddenInput


class StrictIntegerField(IntegerField):
    """An IntegerField whose empty input is 'missing' (for InputRequired), not 'not a number'."""

    def process_formdata(self, valuelist):
        if valuelist and not valuelist[0].strip():
            self.raw_data = []  # blank counts as not given, so InputRequired answers
            self.data = None
            return
        super().process_formdata(valuelist)


class QuantityRange:
    """Between 1 and CART_MAX_QUANTITY, read from the app's config when the form validates."""

    def __call__(self, form, field):
        if field.data is None:
            # Not a number: the field already says so; anything else missing is still an error.
            raise StopValidation(None if field.process_errors else "请填写数量。")
        maximum = current_app.config["CART_MAX_QUANTITY"]
        NumberRange(1, maximum, message=f"数量须在 1 到 {maximum} 之间。")(form, field)


def product_id_field():
    return StrictIntegerField(
        widget=HiddenInput(),
        invalid_value_message="商品不存在或已下架。",
        validators=[InputRequired("商品不存在或已下架。")],
    )


def quantity_field():
    return StrictIntegerField(
        "数量",
        invalid_value_message="数量必须是整数。",
        validators=[InputRequired("请填写数量。"), QuantityRange()],
    )


class AddToCartForm(FlaskForm):
    product_id = product_id_field()
    quantity = quantity_field()


class UpdateLineForm(FlaskForm):
    product_id = product_id_field()
    quantity = quantity_field()


class RemoveLineForm(FlaskForm):
    product_id = product_id_field()



def first_error(form, *field_names) -> str | None:
    """The first error message of the named fields, in that order."""
    for name in field_names:
        if form[name].errors:
            return form[name].errors[0]
    return None

