"""Product images: checked, re-encoded and resized with Pillow, stored under content-hashed names.

An upload is read at most MAX_IMAGE_BYTES (+1, to tell it was bigger), opened only as JPEG, PNG or WebP,
refused above MAX_PIXELS (decompression bombs), verified, turned upright from its EXIF orientation,
flattened to RGB on white, and saved as JPEG without any metadata (no EXIF: no GPS position, no phone
model) at each size the pages use. Its files are named after the SHA-256 of the largest one, so a
changed picture gets a new name and every name can be cached forever.
"""
import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

# The pages' sizes (templates/_macros.html product_image): the cart's thumbnail (3.5rem, twice for sharp
# screens), the catalog card (480) and the product page (up to 960 wide on a sharp phone screen).
SIZES = {"thumb": 160, "card": 480, "detail": 960}
# The JPEG opener also takes MPO files (some phones' JPEGs: a JPEG with extra frames; the first is used).
FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; a bigger one would need hundreds of MB to decode
JPEG_QUALITY = 85
KEY_LENGTH = 32
SUBFOLDER = "products"


class ImageRefused(Exception):
    """The upload is not an image the shop takes; the message is for the owner's form."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class ProcessedImage:
    key: str
    width: int
    height: int
    files: dict[int, bytes] = field(default_factory=dict)  # width of the size -> JPEG bytes


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:g} MB"


def looks_like_heic(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc")


def process(stream, filename: str, max_bytes: int) -> ProcessedImage:
    """Check and re-encode one upload; raise ImageRefused with a message naming the file."""
    name = f"「{filename}」" if filename else "图片"
    data = stream.read(max_bytes + 1)
    if not data:
        raise ImageRefused(f"{name}是空文件。")
    if len(data) > max_bytes:
        raise ImageRefused(f"{name}超过 {megabytes(max_bytes)}，请压缩或截图后再上传。")
    if looks_like_heic(data):
        raise ImageRefused(f"{name}是 iPhone 的 HEIC 格式，请上传 JPEG、PNG 或 WebP"
                           "（可在“设置 > 相机 > 格式”选“兼容性最佳”，或截屏后上传）。")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
                if probe.width * probe.height > MAX_PIXELS:
                    raise ImageRefused(f"{name}尺寸太大（{probe.width}×{probe.height}），请缩小到 4000 万像素以内。")
                probe.verify()
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            image.draft("RGB", (SIZES["detail"] * 2, SIZES["detail"] * 2))  # JPEG: decode at a smaller scale
            image.load()
    except ImageRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"{name}不是 JPEG、PNG 或 WebP 图片，或尺寸太大。") from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRefused(f"{name}已损坏或不完整，请重新导出后上传。") from None
    return encode(upright_rgb(image))


def upright_rgb(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation and flatten transparency onto white: an RGB image without metadata."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def encode(image: Image.Image) -> ProcessedImage:
    files = {}
    for width in sorted(set(SIZES.values()), reverse=True):
        copy = image.copy()
        copy.thumbnail((width, width), Image.Resampling.LANCZOS)  # keeps the shape; never enlarges
        buffer = io.BytesIO()
        copy.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        files[width] = buffer.getvalue()
        if width == SIZES["detail"]:
            largest = copy.size
    key = hashlib.sha256(files[SIZES["detail"]]).hexdigest()[:KEY_LENGTH]
    return ProcessedImage(key=key, width=largest[0], height=largest[1], files=files)


def file_name(key: str, width: int) -> str:
    """The path of one size under the media folder, as the /media/ URL carries it."""
    return f"{SUBFOLDER}/{key}-{width}.jpg"


def size_width(size: str) -> int:
    return SIZES.get(size, SIZES["card"])


def store(processed: ProcessedImage, media_dir: str) -> None:
    """Write the files (each atomically: a reader never sees half a file). The same image twice is one set."""
    folder = Path(media_dir) / SUBFOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for width, data in processed.files.items():
        target = Path(media_dir) / file_name(processed.key, width)
        if target.exists():
            continue
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)


def delete_files(key: str, media_dir: str) -> None:
    """Remove an image's files (when no product uses them any more)."""
    for width in set(SIZES.values()):
        try:
            (Path(media_dir) / file_name(key, width)).unlink()
        except FileNotFoundError:
            pass
