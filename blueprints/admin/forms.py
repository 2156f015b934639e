"""Forms for the owner's pages. Money is entered in yuan and turned into integer fen with Decimal."""
from datetime import date

from flask_wtf import FlaskForm
from wtforms import Form, HiddenField, PasswordField, SearchField, SelectField, StringField
from wtforms.fields import DateField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from core.money import yuan_to_fen
from core.vocabulary import OrderStatus

# The order list's status filter: every status, plus two views across them (the values queries.py reads).
REFUNDED_FILTER = "refunded"
ATTENTION_FILTER = "attention"
STATUS_CHOICES = [
    SelectChoice("", "全部状态"),
    *(SelectChoice(status.value, status.label) for status in OrderStatus),
    SelectChoice(REFUNDED_FILTER, "有退款"),
    SelectChoice(ATTENTION_FILTER, "需处理"),
]

class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=40, message="用户名太长")],
                           render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=200, message="密码太长")],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class RefundForm(FlaskForm):
    amount = StringField("退款金额（元）", validators=[DataRequired("请输入退款金额")],
                         render_kw={"inputmode": "decimal", "autocomplete": "off", "maxlength": 13})
    reason = StringField("退款原因", validators=[Length(max=80, message="退款原因最多 80 个字")],
                         render_kw={"maxlength": 80, "placeholder": "如：缺货、顾客申请退货"})

    def validate_amount(self, field):
        try:
            fen = yuan_to_fen(field.data)
        except ValueError:
            raise ValidationError("请输入金额，如 12.50（最多两位小数）") from None
        if fen <= 0:
            raise ValidationError("退款金额须大于 0")
        self.amount_fen = fen


# Orders can only have been placed within these days (a wider date is a typo, and would overflow).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def within_days(form, field):
    if field.data and not FIRST_DAY <= field.data <= LAST_DAY:
        raise ValidationError(f"日期须在 {FIRST_DAY} 到 {LAST_DAY} 之间")


class OrderFilterForm(Form):
    """The order list's filters, read from the query string (GET, so no CSRF)."""

    class Meta:
        locales = ["zh_CN", "zh"]  # WTForms' own messages (invalid date, invalid choice) in Chinese

    status = SelectField("状态", choices=STATUS_CHOICES, default="", validators=[Optional()])
    date_from = DateField("下单日期从", validators=[Optional(), within_days], format="%Y-%m-%d")
    date_to = DateField("至", validators=[Optional(), within_days], format="%Y-%m-%d")
    q = SearchField("搜索", validators=[Optional(), Length(max=64, message="搜索内容最多 64 个字符")],
                    render_kw={"placeholder": "订单号 / 姓名 / 手机号", "maxlength": 64})

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("结束日期不能早于开始日期")

    def query_args(self) -> dict:
        """The active filters, for links (pagination, CSV export)."""
        args = {
            "status": self.status.data or None,
            "date_from": self.date_from.data.isoformat() if self.date_from.data else None,
            "date_to": self.date_to.data.isoformat() if self.date_to.data else None,
            "q": (self.q.data or "").strip() or None,
        }
        return {key: value for key, value in args.items() if value}
