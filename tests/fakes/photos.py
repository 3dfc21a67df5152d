"""Test photos made on the spot: every odd kind of file a user might send."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw, ImageFont


def gradient(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 7 + seed * 40) % 256, (y * 5 + seed * 90) % 256, (x + y + seed * 13) % 256)
                   for y in range(height) for x in range(width)])  # fmt: skip
    return image


def encode(image: Image.Image, fmt: str, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def jpeg(seed: int = 0, width: int = 64, height: int = 48) -> bytes:
    return encode(gradient(width, height, seed), "JPEG")


def png(seed: int = 0) -> bytes:
    return encode(gradient(seed=seed), "PNG")


def exif_rotated_jpeg() -> bytes:
    """A 64x32 picture, red on its left half, whose EXIF says 'rotate 90 degrees clockwise to view'.

    Upright it is 32x64 with the red half on top.
    """
    image = Image.new("RGB", (64, 32), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 32, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)


def png_with_alpha() -> bytes:
    image = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 20, 30))
    return encode(image, "PNG")


def cmyk_jpeg() -> bytes:
    """Pure yellow, stored as CMYK."""
    return encode(Image.new("CMYK", (64, 48), (0, 0, 255, 0)), "JPEG", quality=95)


def palette_gif() -> bytes:
    """Two frames: all green, then all red (the first frame is the one to describe)."""
    frames = [Image.new("RGB", (64, 48), colour).convert("P") for colour in ((0, 255, 0), (255, 0, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg(width=256, height=256)
    return data[: len(data) // 3]


def huge_header_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims an enormous size (a decompression bomb's calling card)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


TEXT_FILE_NAMED_JPG = b"This is a shopping list, not a photo.\n"


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian's fonts-dejavu-core


def sign_image(lines: list[str] | tuple[str, ...], size: int = 48) -> Image.Image:
    """Black words on white, one line each: what a phone photo of a notice boils down to."""
    font = ImageFont.truetype(FONT, size)
    width = max(size * 18, max(round(font.getlength(line)) for line in lines) + 2 * size)
    image = Image.new("RGB", (width, size * (2 * len(lines) + 1)), "white")
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((size, size // 2 + n * size * 2), line, fill="black", font=font)
    return image


def sign(*lines: str) -> bytes:
    """`sign_image` as a PNG upload."""
    return encode(sign_image(lines), "PNG")


def large_jpeg(width: int = 4000, height: int = 3000) -> bytes:
    """A camera-sized JPEG made in milliseconds (`gradient` builds pixels in Python: too slow here)."""
    ramp = Image.linear_gradient("L")
    channels = [
        ramp.resize((width, height)),
        ramp.rotate(90).resize((width, height)),
        Image.new("L", (width, height), 90),
    ]
    return encode(Image.merge("RGB", channels), "JPEG", quality=85)
