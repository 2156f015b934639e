"""The checkout form: who receives the order and where (the fields of models.Delivery)."""
import re
import secrets

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, StopValidation

from core import regions
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
    # 省/市/区 from the bundled dataset. Their options depend on each other: set_region_choices() fills them
    # from what was chosen, so they also work without JavaScript (choose, press 更新城市和区县, choose on).
    province = SelectField("省份", validate_choice=False, render_kw={"autocomplete": "address-level1"})
    city = SelectField("城市", validate_choice=False, render_kw={"autocomplete": "address-level2"})
    district = SelectField("区县", validate_choice=False, render_kw={"autocomplete": "address-level3"})
    address_detail = StringField(
        "详细地址", filters=[strip],
        validators=[DataRequired("请填写详细地址（街道、小区、楼栋和门牌号）。"),
                    Length(max=MAX["address_detail"], message=f"详细地址不能超过 {MAX['address_detail']} 个字。")],
        render_kw={"maxlength": MAX["address_detail"], "autocomplete": "street-address"},
    )
    note = TextAreaField(
        "备注（选填）", filters=[strip],
        validators=[Optional(), Length(max=MAX["note"], message=f"备注不能超过 {MAX['note']} 个字。")],
        render_kw={"maxlength": MAX["note"], "rows": 3},
    )
    remember = BooleanField("在本机记住收货信息，下次自动填写", default=True)
    # One per rendered form: submitting the same form twice (a double click) finds the first order.
    submission_token = HiddenField(
        validators=[Optional(), Regexp(SUBMISSION_TOKEN_PATTERN, message="页面已过期，请刷新后重新提交。")],
    )

    def set_region_choices(self) -> None:
        """Offer the cities of the chosen province and the districts of the chosen city; forget a city or
        district that no longer belongs to what is chosen above it."""
        province, city = self.province.data or "", self.city.data or ""
        if province not in regions.provinces():
            province = self.province.data = ""
        if city not in regions.cities(province):
            city = self.city.data = ""
        if (self.district.data or "") not in regions.districts(province, city):
            self.district.data = ""
        self.province.choices = [("", "请选择")] + [(name, name) for name in regions.provinces()]
        self.city.choices = [("", "请选择" if province else "先选省份")] + [
            (name, name) for name in regions.cities(province)]
        self.district.choices = [("", "请选择" if city else "先选城市")] + [
            (name, name) for name in regions.districts(province, city)]

    def validate_province(self, field):
        if not field.data or field.data not in regions.provinces():
            raise StopValidation("请选择省份。")

    def validate_city(self, field):
        if not field.data or field.data not in regions.cities(self.province.data):
            raise StopValidation("请选择城市。")

    def validate_district(self, field):
        if not field.data or field.data not in regions.districts(self.province.data, self.city.data):
            raise StopValidation("请选择区县。")

    def delivery(self) -> Delivery:
        """The validated delivery details."""
        return Delivery(**{name: self[name].data or "" for name in Delivery.MAX_LENGTH})

    def fill(self, details: dict) -> None:
        """Pre-fill the delivery fields from remembered details (only names Delivery knows, only text)."""
        for name in Delivery.MAX_LENGTH:
            value = details.get(name)
            if isinstance(value, str) and len(value) <= max(MAX[name], 20):
                self[name].data = value
