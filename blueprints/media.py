"""The owner's product images from MEDIA_DIR, cached for a year: their names change when they do.

In production nginx can serve the folder itself (README, "Product images"); this route is the same
files with the same headers, for development and for servers without that block.
"""
import re

from flask import Blueprint, abort, current_app, send_from_directory, url_for

from services import media

bp = Blueprint("media", __name__)

NAME_RE = re.compile(rf"^{media.SUBFOLDER}/[0-9a-f]{{{media.KEY_LENGTH}}}-\d{{2,4}}\.jpg$")
CACHE_FOREVER = "public, max-age=31536000, immutable"


@bp.get("/media/<path:name>")
def file(name):
    """One stored image file; 404 for any other name."""
    if not NAME_RE.match(name):
        abort(404)
    response = send_from_directory(current_app.config["MEDIA_DIR"], name, max_age=31536000)
    response.headers["Cache-Control"] = CACHE_FOREVER
    return response


@bp.app_template_global()
def product_image_src(product, size: str = "card") -> str | None:
    """The URL of a product's first image at one of the pages' sizes; the seed's picture; or None."""
    if product.images:
        return url_for("media.file", name=media.file_name(product.images[0].key, media.size_width(size)))
    if product.image:
        return url_for("static", filename="products/" + product.image)
    return None


@bp.app_template_global()
def product_image_srcs(product, size: str = "detail") -> list[str]:
    """Every image of a product, in the owner's order, at one size (the product page shows them all)."""
    sources = [url_for("media.file", name=media.file_name(image.key, media.size_width(size)))
               for image in product.images]
    if product.image:
        sources.append(url_for("static", filename="products/" + product.image))
    return sources
