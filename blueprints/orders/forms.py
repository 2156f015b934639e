"""The order lookup form: order number and the mobile number it was placed with."""
import re

from flask_wtf import FlaskForm
from wtforms import StringField, TelField
from wtforms.validators import DataRequired, Regexp

from blueprints.checkout.forms import MOBILE_PATTERN, normalise_mobile

ORDER_NUMBER_PATTERN = r"^[0-9A-Z]{6,32}$"


def normalise_order_number(value):
    """Drop the spaces people type or paste, upper-case the letters."""
    return re.sub(r"\s", "", value).upper() if isinstance(value, str) else value


class OrderLookupForm(FlaskForm):
    out_trade_no = StringField(
        "订单号", filters=[normalise_order_number],
        validators=[DataRequired("请填写订单号。"),
                    Regexp(ORDER_NUMBER_PATTERN, message="订单号由数字和字母组成，请核对。")],
        render_kw={"maxlength": 40, "autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    mobile = TelField(
        "下单手机号", filters=[normalise_mobile],
        validators=[DataRequired("请填写下单时的手机号。"),
                    Regexp(MOBILE_PATTERN, message="请填写 11 位中国大陆手机号，例如 13800138000。")],
        render_kw={"maxlength": 20, "autocomplete": "tel", "inputmode": "numeric"},
    )
