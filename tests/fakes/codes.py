"""Photo-like scenes and real QR codes and barcodes in them, for the codes and quick-check tests
of the core and of every front end (made with zxing-cpp itself, so they are codes a reader must read).
"""

from __future__ import annotations

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw

from tests.fakes.photos import encode

MENU_LINK = "https://example.org/menu"
#: What the core says about `menu_photo`'s code.
MENU_CODE_SENTENCE = "There is a QR code. It links to example.org/menu."


def scene(width: int = 1600, height: int = 1200, seed: int = 0) -> Image.Image:
    """A photo-like background: a table top with a few objects, uneven light and sensor noise."""
    rng = np.random.default_rng(seed)
    small = Image.new("RGB", (width // 8, height // 8), (182, 170, 150))
    draw = ImageDraw.Draw(small)
    for _ in range(10):
        x, y = rng.integers(0, width // 8, 2)
        size = rng.integers(width // 80, width // 25, 2)
        colour = tuple(int(v) for v in rng.integers(20, 235, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            (x, y, x + size[0], y + size[1]), fill=colour
        )
    pixels = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    light = np.linspace(1.0, 0.75, width, dtype=np.float32)[None, :, None]
    noisy = pixels * light + rng.normal(0, 4, (height, width, 1)).astype(np.float32)
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def symbol(text: str, fmt: zxingcpp.BarcodeFormat, scale: int = 4) -> Image.Image:
    """The code `text` as `fmt` would print it, black on white, `scale` pixels a module."""
    printed = zxingcpp.create_barcode(text, fmt).to_image(scale=scale)
    return Image.fromarray(np.asarray(printed)).convert("RGB")


def qr_code(text: str, scale: int = 5) -> Image.Image:
    return symbol(text, zxingcpp.BarcodeFormat.QRCode, scale)


def menu_photo() -> bytes:
    """A table-top photo with a menu's QR code lying on it, as a phone's JPEG."""
    image = scene(800, 600)
    image.paste(qr_code(MENU_LINK), (300, 180))
    return encode(image, "JPEG", quality=90)


def dark_photo() -> bytes:
    """The same kind of scene taken with the light off: almost everything near black."""
    return encode(Image.eval(scene(800, 600), lambda v: v // 12), "JPEG", quality=90)
