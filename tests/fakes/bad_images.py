"""Hostile and odd uploads, built in code: what people (and attackers) really send as "a photo".

Each `HostileFile` names a file and what must happen to it: described (`refusal` is None) or
refused with a plain sentence containing `refusal`. The same list is fed to `prepare_image`, the
HTTP API, the web page and the chat platforms, so every door gives the same answer. Nothing here is
a committed binary: every file is made on the spot, most from a few bytes of header.
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from PIL import Image, features

from tests.fakes.photos import encode, gradient, huge_header_png, jpeg, png

#: The words each kind of refusal contains (the sentences live in bot/core/images.py).
EMPTY = "empty"
DAMAGED = "damaged"
NOT_A_PICTURE = "could not open"
UNSUPPORTED = "JPEG, PNG"
TOO_BIG = "too big"


@dataclass(frozen=True, slots=True)
class HostileFile:
    """One upload and its fate: `refusal` holds words of the plain refusal, None when it is described."""

    name: str
    data: bytes
    refusal: str | None
    why: str

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(width: int, height: int, depth: int, colour: int, pixel: bytes, *extra: bytes) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit colour): every pixel is `pixel`."""
    return png_of_rows(width, height, depth, colour, [pixel * width] * height, *extra)


def png_of_rows(width: int, height: int, depth: int, colour: int, rows: list[bytes], *extra: bytes) -> bytes:
    """A PNG of the given raw rows (unfiltered), with `extra` chunks (tRNS, say) before the pixels."""
    pixels = b"".join(b"\0" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + b"".join(extra)
        + png_chunk(b"IDAT", zlib.compress(pixels))
        + png_chunk(b"IEND", b"")
    )


def exif_jpeg(orientation: int, *, as_text: bool = False, odd: bytes = b"", odd_data: bytes = b"") -> bytes:
    """A 64x32 JPEG whose EXIF Orientation is any 16-bit value (or text, with `as_text`).

    `odd` is one more 12-byte directory entry (see `exif_entry`), and `odd_data` what its offset
    points at: the directory ends at byte 38 when `odd` is given.
    """
    value = b"9\0\0\0" if as_text else struct.pack(">HH", orientation, 0)
    orientation_entry = exif_entry(0x0112, 2 if as_text else 3, 2 if as_text else 1, value)
    entries = orientation_entry + odd
    directory = struct.pack(">H", len(entries) // 12) + entries + struct.pack(">I", 0)
    tiff = b"MM\0*" + struct.pack(">I", 8) + directory + odd_data
    return encode(gradient(64, 32), "JPEG", exif=b"Exif\0\0" + tiff)


def exif_entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
    """One EXIF directory entry: tag, type (2 ASCII, 3 SHORT, 5 RATIONAL, 8 SSHORT), count, 4 bytes."""
    return struct.pack(">HHI", tag, kind, count) + value


def broken_exif_jpeg() -> bytes:
    """EXIF whose first directory lies far past the end of the segment, and a tag count of 65535."""
    tiff = b"MM\0*" + struct.pack(">I", 0xFFFFFF00) + struct.pack(">H", 0xFFFF) + b"\0" * 12
    return encode(gradient(), "JPEG", exif=b"Exif\0\0" + tiff)


def huge_sof_jpeg(width: int = 65_000, height: int = 65_000) -> bytes:
    """A real small JPEG whose frame header is patched to claim `width` x `height`."""
    data = bytearray(jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def huge_gif(width: int = 65_535, height: int = 65_535) -> bytes:
    """A GIF of a few bytes whose screen and first frame claim `width` x `height`."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def huge_bmp(width: int = 50_000, height: int = 50_000) -> bytes:
    """A BMP header claiming `width` x `height` 24-bit pixels, and no pixels at all."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def animated(fmt: str, **save_args: object) -> bytes:
    """Two frames, green then red: the first is the one described."""
    frames = [Image.new("RGB", (48, 32), colour) for colour in ((0, 255, 0), (255, 0, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100, **save_args)
    return buffer.getvalue()


def palette_png_with_transparency() -> bytes:
    """Left half a transparent palette entry (white once laid on white), right half blue."""
    image = Image.new("P", (40, 30), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (20, 0, 40, 30))
    return encode(image, "PNG", transparency=0)


def jpeg_zip_polyglot() -> bytes:
    """A JPEG with a ZIP archive after its end: a picture to an image reader, an archive to unzip."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.txt", "not for the model")
    return jpeg() + archive.getvalue()


def zip_file() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("photo.jpg", jpeg())
    return archive.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><rect width="64" height="48"/></svg>'
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HEIC = struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 64
AVIF_HEADER_ONLY = struct.pack(">I", 24) + b"ftypavif" + b"\0\0\0\0" + b"mif1avif" + b"\0" * 64
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\nshowpage\n"
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"


def _avif() -> list[HostileFile]:
    """A real AVIF, where this Pillow can write one (its wheels bundle libavif since 11.3)."""
    if not features.check("avif"):
        return []
    return [HostileFile("avif", encode(gradient(), "AVIF"), UNSUPPORTED, "not (yet) a format we take")]


def _cut(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def _build() -> list[HostileFile]:
    big_jpeg = jpeg(width=256, height=256)
    big_png = encode(gradient(256, 256), "PNG")
    return [
        # Refused: not a picture at all.
        HostileFile("zero-bytes", b"", EMPTY, "nothing was sent"),
        HostileFile("text-file", b"This is a shopping list, not a photo.\n", NOT_A_PICTURE, "plain text"),
        HostileFile("svg", SVG, NOT_A_PICTURE, "vector drawing, and scripts can hide in one"),
        HostileFile("pdf", PDF, NOT_A_PICTURE, "a document"),
        HostileFile("html", HTML, NOT_A_PICTURE, "markup with a script"),
        HostileFile("zip", zip_file(), NOT_A_PICTURE, "an archive holding a photo"),
        HostileFile("random-bytes", bytes(range(256)) * 4, NOT_A_PICTURE, "noise"),
        # Refused: a picture in a format the bot does not take.
        HostileFile("eps", EPS, UNSUPPORTED, "Pillow would run Ghostscript to load it"),
        HostileFile("tiff", encode(gradient(), "TIFF"), UNSUPPORTED, "not a format we take"),
        HostileFile("ico", encode(gradient(32, 32), "ICO"), UNSUPPORTED, "an icon"),
        HostileFile("heic-header", HEIC, UNSUPPORTED, "an iPhone photo's HEIC header; no decoder for it"),
        HostileFile("avif-header-only", AVIF_HEADER_ONLY, UNSUPPORTED, "an AVIF box with no picture"),
        *_avif(),
        # Refused: damaged.
        HostileFile("truncated-jpeg", _cut(big_jpeg, 0.3), DAMAGED, "cut off mid-scan"),
        HostileFile("truncated-png", _cut(big_png, 0.5), DAMAGED, "cut off mid-IDAT"),
        HostileFile("png-signature-only", b"\x89PNG\r\n\x1a\n", NOT_A_PICTURE, "eight bytes of header"),
        HostileFile("jpeg-soi-eoi", b"\xff\xd8\xff\xd9", NOT_A_PICTURE, "a JPEG with no frame"),
        HostileFile(
            "gif-without-frames", huge_gif(2, 2)[:19] + b"\x3b", NOT_A_PICTURE, "a screen and no frame"
        ),
        HostileFile(
            "png-bad-crc",
            png()[:29] + b"\0\0\0\0" + png()[33:],
            NOT_A_PICTURE,
            "the header's checksum is wrong",
        ),
        HostileFile("png-zero-width", raw_png(0, 1, 8, 2, b""), NOT_A_PICTURE, "a header claiming 0x1"),
        # Refused: a small file claiming an enormous picture (decompression bombs).
        HostileFile("bomb-png", huge_header_png(), TOO_BIG, "100000x100000 in 70 bytes"),
        HostileFile("bomb-jpeg", huge_sof_jpeg(), TOO_BIG, "a frame header claiming 65000x65000"),
        HostileFile("bomb-gif", huge_gif(), TOO_BIG, "65535x65535 in 40 bytes"),
        HostileFile("bomb-bmp", huge_bmp(), TOO_BIG, "a header claiming 50000x50000, no pixels"),
        HostileFile(
            "huge-png-over-limit", huge_header_png(5000, 4000), TOO_BIG, "20 MP, over the test limit"
        ),
        # Described: odd but real pictures.
        HostileFile(
            "cmyk-jpeg", encode(Image.new("CMYK", (64, 48), (0, 0, 255, 0)), "JPEG"), None, "print CMYK"
        ),
        HostileFile("grayscale-jpeg", encode(gradient().convert("L"), "JPEG"), None, "one channel"),
        HostileFile("progressive-jpeg", encode(gradient(), "JPEG", progressive=True), None, "progressive"),
        HostileFile("png-16bit-gray", raw_png(32, 24, 16, 0, b"\x80\x80"), None, "16-bit grey, mid grey"),
        HostileFile("png-16bit-rgb", raw_png(32, 24, 16, 2, b"\x80\0\x40\0\x10\0"), None, "48-bit colour"),
        HostileFile(
            "png-16bit-gray-alpha", raw_png(32, 24, 16, 4, b"\x80\x80\xff\xff"), None, "grey+alpha 16-bit"
        ),
        HostileFile(
            "png-16bit-gray-trns",
            raw_png(32, 24, 16, 0, b"\x12\x34", png_chunk(b"tRNS", b"\x12\x34")),
            None,
            "16-bit grey, every pixel the transparent one",
        ),
        HostileFile(
            "png-gray-alpha", encode(Image.new("LA", (32, 24), (90, 128)), "PNG"), None, "grey+alpha"
        ),
        HostileFile("png-palette-transparency", palette_png_with_transparency(), None, "palette + tRNS"),
        HostileFile(
            "png-rgb-colour-key",
            raw_png(8, 8, 8, 2, b"\x10\x20\x30", png_chunk(b"tRNS", b"\0\x10\0\x20\0\x30")),
            None,
            "RGB whose every pixel is the transparent colour",
        ),
        HostileFile("png-1bit", encode(Image.new("1", (40, 30), 1), "PNG"), None, "black and white"),
        HostileFile("bmp-32bit", encode(Image.new("RGBA", (16, 16), (1, 2, 3, 255)), "BMP"), None, "BGRA"),
        HostileFile(
            "webp-lossless-alpha",
            encode(Image.new("RGBA", (16, 16), (0, 0, 255, 128)), "WEBP", lossless=True),
            None,
            "WebP with alpha",
        ),
        HostileFile("animated-gif", animated("GIF"), None, "two frames"),
        HostileFile("animated-webp", animated("WEBP"), None, "two frames"),
        HostileFile("animated-png", animated("PNG"), None, "APNG, two frames"),
        HostileFile("one-by-one", encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), None, "a single pixel"),
        HostileFile("one-by-n", encode(gradient(1, 5000), "PNG"), None, "a 1x5000 line"),
        HostileFile("n-by-one", encode(gradient(5000, 1), "PNG"), None, "a 5000x1 line"),
        HostileFile(
            "wide-under-limit",
            encode(Image.new("L", (6000, 600), 128), "PNG"),
            None,
            "3.6 MP, a long side of 6000",
        ),
        HostileFile("exif-orientation-0", exif_jpeg(0), None, "0 is not an orientation"),
        HostileFile("exif-orientation-9", exif_jpeg(9), None, "one past the last orientation"),
        HostileFile("exif-orientation-65535", exif_jpeg(65535), None, "the largest SHORT"),
        HostileFile(
            "exif-orientation-as-text", exif_jpeg(6, as_text=True), None, "orientation stored as text"
        ),
        # Turned upright although the rest of their EXIF could not be written back (Pillow's
        # exif_transpose raised AttributeError, TypeError and struct.error on these).
        HostileFile(
            "exif-turned-make-as-number",
            exif_jpeg(
                6, odd=exif_entry(0x010F, 5, 1, struct.pack(">I", 38)), odd_data=struct.pack(">II", 1, 2)
            ),
            None,
            "camera make (text) stored as a fraction",
        ),
        HostileFile(
            "exif-turned-resolution-as-text",
            exif_jpeg(6, odd=exif_entry(0x011A, 2, 4, b"abc\0")),
            None,
            "resolution (a fraction) stored as text",
        ),
        HostileFile(
            "exif-turned-negative-width",
            exif_jpeg(6, odd=exif_entry(0x0100, 8, 1, b"\xff\xff\0\0")),
            None,
            "image width stored as a negative number",
        ),
        HostileFile("exif-broken", broken_exif_jpeg(), None, "a directory past the end"),
        HostileFile("jpeg-zip-polyglot", jpeg_zip_polyglot(), None, "a JPEG that is also a ZIP"),
        HostileFile("png-sent-as-jpeg", png(), None, "the name and type lie; the bytes decide"),
    ]


@functools.cache
def corpus() -> tuple[HostileFile, ...]:
    """Every hostile file, built once per test run."""
    return tuple(_build())


def by_name(name: str) -> HostileFile:
    [found] = [hostile for hostile in corpus() if hostile.name == name]
    return found
