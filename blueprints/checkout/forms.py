"""The checkout form: who receives the order and where."""
import re

from flask_wtf import FlaskForm
from wtforms import StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

MOBILE_PATTERN = r"^1[3-9]\d{9}$"


def strip(value):
    return value.strip() if isinstance(value, str) else value


def normalise_mobile(value):
    """Drop spaces and hyphens people type into phone numbers, and a leading +86."""
    if not isinstance(value, str):
        return value
    value = re.sub(r"[\s-]", "", value)
    return value[3:] if value.startswith("+86") else value


class CheckoutForm(FlaskForm):
    contact_name = StringField(
        "收货人", filters=[strip],
        validators=[DataRequired("请填写收货人姓名。"), Length(max=40, message="收货人姓名不能超过 40 个字。")],
        render_kw={"maxlength": 40, "autocomplete": "name"},
    )
    mobile = TelField(
        "手机号", filters=[normalise_mobile],
        validators=[
            DataRequired("请填写手机号。"),
            Regexp(MOBILE_PATTERN, message="请填写 11 位中国大陆手机号，例如 13800138000。"),
        ],
        render_kw={"maxlength": 20, "autocomplete": "tel", "inputmode": "numeric"},
    )
    address = StringField(
        "收货地址", filters=[strip],
        validators=[DataRequired("请填写收货地址。"), Length(max=200, message="收货地址不能超过 200 个字。")],
        render_kw={"maxlength": 200, "autocomplete": "street-address"},
    )
    note = TextAreaField(
        "备注（选填）", filters=[strip],
        validators=[Optional(), Length(max=200, message="备注不能超过 200 个字。")],
        render_kw={"maxlength": 200, "rows": 3},
    )

    def order_data(self) -> dict[str, str]:
        """The validated fields, by the names the Order model uses."""
        return {name: self[name].data or "" for name in ("contact_name", "mobile", "address", "note")}
