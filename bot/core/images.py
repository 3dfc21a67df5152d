"""Turn the bytes a user sent into a safe, upright RGB picture, or explain why not.

Everything a user can send passes through `prepare_image` before it reaches the store or the
model: size and pixel-count limits come first (a small file can claim 100000x100000 pixels),
then decoding, EXIF orientation and conversion to RGB. Failures are `ImageError`s whose text is
fit to show the user; a decoder failing in a way nobody foresaw is one too, never a traceback.
tests/fakes/bad_images.py holds the hostile files this is tested against.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageChops, UnidentifiedImageError

log = logging.getLogger(__name__)

SUPPORTED_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "MPO": "image/jpeg",
}

#: The long side of the copy the model gets. BLIP-2's processor shrinks every picture to 224 px
#: (364 for some checkpoints), so 1024 loses nothing it would see, and a queued request holds at
#: most 1024x1024x3 bytes (3 MiB) instead of a 50-megapixel original (150 MB).
MODEL_SIDE = 1024

_TOO_MANY_PIXELS = "That picture is too big for me to look at. Please send a smaller photo."
_DAMAGED = "That picture seems to be damaged or cut off, so I could not read it. Please send it again."
_UNSUPPORTED = "I can read JPEG, PNG, WebP, BMP and GIF pictures, but not this file. Please send a photo."
#: ISO base media "ftyp" brands of HEIC and AVIF pictures (iPhones save HEIC): Pillow cannot open
#: HEIC, so it is recognised here, to name the formats that work rather than say "not a picture".
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(ValueError):
    """The upload is not a usable picture; the message is written for the user."""


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """A decoded picture ready for the model, plus what the store records about the upload.

    `image` is full-size, for OCR (small print needs every pixel); `model_image` is the copy sized
    for the model (at most `MODEL_SIDE` on its long side; `image` itself when already that small),
    and the only one a queued request may hold. `width` and `height` are the upright original's.
    """

    image: Image.Image
    data: bytes
    mime: str
    width: int
    height: int
    model_image: Image.Image


def prepare_image(data: bytes, *, max_bytes: int, max_pixels: int) -> PreparedImage:
    """Validate and decode `data`. Blocking (CPU work): call it in a thread."""
    if not data:
        raise ImageError("The file is empty. Please send a photo.")
    if len(data) > max_bytes:
        raise ImageError(
            f"That file is too large ({len(data) // (1024 * 1024)} MB). "
            f"Please send a picture under {max_bytes // (1024 * 1024)} MB."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            rgb, fmt = _decode(data, max_pixels)
            model_image = for_model(rgb)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
        raise ImageError(_TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
            raise ImageError(_UNSUPPORTED) from None
        raise ImageError("I could not open that file as a picture. Please send a photo.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageError(_DAMAGED) from None
    except Exception as error:  # a decoder tripping on hostile bytes: still the user's bad file
        log.warning("an upload broke the decoder (%s: %s)", type(error).__name__, error)
        raise ImageError(_DAMAGED) from None
    return PreparedImage(
        image=rgb,
        data=data,
        mime=SUPPORTED_FORMATS[fmt],
        width=rgb.width,
        height=rgb.height,
        model_image=model_image,
    )


def for_model(image: Image.Image) -> Image.Image:
    """`image` shrunk to fit `MODEL_SIDE` x `MODEL_SIDE`, its aspect kept; never enlarged."""
    width, height = image.size
    if max(width, height) <= MODEL_SIDE:
        return image
    scale = MODEL_SIDE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def _decode(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """The upright RGB picture and its format; raises Pillow's errors for the caller to word."""
    image = Image.open(io.BytesIO(data))
    fmt = image.format or ""
    if fmt not in SUPPORTED_FORMATS:
        # Refused before loading: some formats Pillow knows (EPS) would run other programs to load.
        raise ImageError(_UNSUPPORTED)
    # Checked before decoding: the header alone says how big the picture would be.
    _check_pixels(image, max_pixels)
    image.seek(0)  # first frame of an animation
    image.load()
    _check_pixels(image, max_pixels)  # a frame may be larger than the header's screen
    return _to_rgb(_upright(image)), fmt


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(_TOO_MANY_PIXELS)


def _upright(image: Image.Image) -> Image.Image:
    """Turned as its EXIF says. An orientation outside 1-8, or EXIF too broken to read, leaves it
    as it was: a photo on its side still gets described, a crash gets nothing."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # malformed EXIF fails in many ways (struct, index, type errors)
        log.info("ignored an upload's unreadable EXIF")
        return image
    method = _TURNS.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(method) if method is not None else image


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for the model: transparency is laid on white, as a viewer would show it."""
    if image.mode in _SIXTEEN_BIT_MODES:
        image = _sixteen_to_eight_bits(image)
    if image.mode == "P" or (image.mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")  # a palette's, or a tRNS colour key's, transparency
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _sixteen_to_eight_bits(image: Image.Image) -> Image.Image:
    """16-bit grey scaled to 8 bits (L, or LA when a tRNS value marks transparent pixels).

    Pillow's own conversion clips at 255, so a mid-grey 16-bit PNG came out white.
    """
    wide = image.convert("I")
    grey = wide.point(lambda v: v / 257).convert("L")
    key = image.info.get("transparency")
    if not isinstance(key, int):
        return grey
    above = wide.point(lambda v: (v - key) * 256).convert("L")  # 255 where brighter than the key
    below = wide.point(lambda v: (key - v) * 256).convert("L")  # 255 where darker
    grey.putalpha(ImageChops.lighter(above, below))
    return grey
