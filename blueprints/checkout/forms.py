"""The checkout form: who receives the order and where (the fields of models.Delivery)."""
import re
import secrets

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from models import Delivery

MOBILE_PATTERN = r"^1[3-9]\d{9}$"
SUBMISSION_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,43}$"
MAX = Delivery.MAX_LENGTH


def strip(value):
    return value.strip() if isinstance(value, str) else value


def normalise_mobile(value):
    """Drop spaces and hyphens people type into phone numbers, and a leading +86."""
    if not isinstance(value, str):
        return value
    value = re.sub(r"[\s-]", "", value)
    return value[3:] if value.startswith("+86") else value


def new_submission_token() -> str:
    return secrets.token_urlsafe(24)


class CheckoutForm(FlaskForm):
    contact_name = StringField(
        "收货人", filters=[strip],
        validators=[DataRequired("请填写收货人姓名。"),
                    Length(max=MAX["contact_name"], message=f"收货人姓名不能超过 {MAX['contact_name']} 个字。")],
        render_kw={"maxlength": MAX["contact_name"], "autocomplete": "name"},
    )
    mobile = TelField(
        "手机号", filters=[normalise_mobile],
        validators=[
            DataRequired("请填写手机号。"),
            Regexp(MOBILE_PATTERN, message="请填写 11 位中国大陆手机号，例如 13800138000。"),
        ],
        # Room for "+86 138-0013-8000"; the filter leaves the 11 digits the column holds.
        render_kw={"maxlength": 20, "autocomplete": "tel", "inputmode": "numeric"},
    )
    address = StringField(
        "收货地址", filters=[strip],
        validators=[DataRequired("请填写收货地址。"),
                    Length(max=MAX["address"], message=f"收货地址不能超过 {MAX['address']} 个字。")],
        render_kw={"maxlength": MAX["address"], "autocomplete": "street-address"},
    )
    note = TextAreaField(
        "备注（选填）", filters=[strip],
        validators=[Optional(), Length(max=MAX["note"], message=f"备注不能超过 {MAX['note']} 个字。")],
        render_kw={"maxlength": MAX["note"], "rows": 3},
    )
    # One per rendered form: submitting the same form twice (a double click) finds the first order.
    submission_token = HiddenField(
        validators=[Optional(), Regexp(SUBMISSION_TOKEN_PATTERN, message="页面已过期，请刷新后重新提交。")],
    )

    def delivery(self) -> Delivery:
        """The validated delivery details."""
        return Delivery(**{name: self[name].data or "" for name in Delivery.MAX_LENGTH})
