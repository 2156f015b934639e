"""QR codes for code_urls, rendered once per code_url and cached."""
import base64
import io
from functools import lru_cache

import qrcode


@lru_cache(maxsize=1024)
def qr_data_uri(code_url: str) -> str:
    """Return the code_url as an inline PNG data URI (`data:image/png;base64,...`)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=2)
    qr.add_data(code_url)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
