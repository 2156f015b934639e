"""Forms of the owner's catalog pages: products, stock changes, images, categories."""
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, Form, HiddenField, IntegerField, SearchField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from core.money import yuan_to_fen
from core.vocabulary import OWNER_STOCK_REASONS
from services.products import MAX_PRICE_FEN, MAX_STOCK

IMAGE_ACCEPT = "image/jpeg,image/png,image/webp"
IMAGES_PER_UPLOAD = 4


class ProductForm(FlaskForm):
    class Meta:
        locales = ["zh_CN", "zh"]

    name = StringField("商品名称",
                       validators=[DataRequired("请输入商品名称"), Length(max=80, message="商品名称最多 80 个字")],
                       render_kw={"maxlength": 80, "autocomplete": "off"})
    category_id = SelectField("分类", coerce=int, validators=[InputRequired("请选择分类")])
    price = StringField("价格（元）", validators=[DataRequired("请输入价格")],
                        render_kw={"inputmode": "decimal", "autocomplete": "off", "maxlength": 13,
                                   "placeholder": "如 58 或 12.50"})
    stock = IntegerField("库存（件）", validators=[InputRequired("请输入库存数量，没有就填 0"),
                                               NumberRange(0, MAX_STOCK, f"库存须在 0 到 {MAX_STOCK} 之间")],
                         render_kw={"inputmode": "numeric", "min": 0, "max": MAX_STOCK})
    # The stock the form showed: the edit is saved only if the stock is still this number.
    stock_loaded = HiddenField()
    description = TextAreaField("商品介绍", validators=[Optional(), Length(max=2000, message="商品介绍最多 2000 字")],
                                render_kw={"rows": 5, "maxlength": 2000})
    images = MultipleFileField("添加图片", render_kw={"accept": IMAGE_ACCEPT})
    # Read aloud by screen readers on the product page, where the main image is shown large.
    image_alt = StringField("图片说明", validators=[Optional(), Length(max=120, message="图片说明最多 120 个字")],
                            render_kw={"maxlength": 120, "autocomplete": "off", "placeholder": "如：红色陶瓷杯，正面"})
    active = BooleanField("上架销售（不勾选则隐藏，顾客看不到）", default=True)

    def validate_price(self, field):
        try:
            fen = yuan_to_fen(field.data)
        except ValueError:
            raise ValidationError("请输入价格，如 12.50（最多两位小数）") from None
        if fen > MAX_PRICE_FEN:
            raise ValidationError("价格不能超过 1,000,000 元")
        self.price_fen = fen

    def validate_stock_loaded(self, field):
        if field.data not in (None, "") and not str(field.data).isdecimal():
            raise ValidationError("页面数据有误，请刷新后重试")

    def uploads(self):
        """The files actually chosen (an empty file input still sends one nameless part)."""
        return [upload for upload in (self.images.data or []) if upload and upload.filename]


def stock_reason_choices():
    return [SelectChoice(reason.value, reason.label) for reason in OWNER_STOCK_REASONS]


class StockAdjustForm(FlaskForm):
    class Meta:
        locales = ["zh_CN", "zh"]

    reason = SelectField("原因", choices=stock_reason_choices)
    quantity = IntegerField("数量", validators=[InputRequired("请输入数量"),
                                              NumberRange(-MAX_STOCK, MAX_STOCK, "数量太大")],
                            render_kw={"inputmode": "numeric", "placeholder": "如 10"})
    note = StringField("备注", validators=[Optional(), Length(max=200, message="备注最多 200 字")],
                       render_kw={"maxlength": 200, "placeholder": "如：新到一箱、破损 2 件"})


class CategoryForm(FlaskForm):
    name = StringField("分类名称",
                       validators=[DataRequired("请输入分类名称"), Length(max=50, message="分类名称最多 50 个字")],
                       render_kw={"maxlength": 50, "autocomplete": "off"})


ON_SALE_FILTER, HIDDEN_FILTER = "on_sale", "hidden"


class ProductFilterForm(Form):
    """The product list's filters, from the query string (GET, so no CSRF)."""

    class Meta:
        locales = ["zh_CN", "zh"]

    q = SearchField("搜索", validators=[Optional(), Length(max=50, message="搜索内容最多 50 个字")],
                    render_kw={"placeholder": "商品名称", "maxlength": 50})
    category = SelectField("分类", coerce=str, validators=[Optional()])
    state = SelectField("状态", choices=[SelectChoice("", "全部"), SelectChoice(ON_SALE_FILTER, "在售"),
                                       SelectChoice(HIDDEN_FILTER, "已隐藏")],
                        default="", validators=[Optional()])
