"""Turn the bytes a user sent into a safe, upright RGB picture, or explain why not.

Everything a user can send passes through `prepare_image` before it reaches the store or the
model: size and pixel-count limits come first (a small file can claim 100000x100000 pixels),
then decoding, EXIF orientation and conversion to RGB. Failures are `ImageError`s whose text is
fit to show the user.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

SUPPORTED_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "MPO": "image/jpeg",
}


_TOO_MANY_PIXELS = "That picture is too big for me to look at. Please send a smaller photo."


class ImageError(ValueError):
    """The upload is not a usable picture; the message is written for the user."""


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """A decoded picture ready for the model, plus what the store records about the upload."""

    image: Image.Image
    data: bytes
    mime: str
    width: int
    height: int


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
            image = Image.open(io.BytesIO(data))
            fmt = image.format or ""
            if fmt not in SUPPORTED_FORMATS:
                raise ImageError(
                    "I can read JPEG, PNG, WebP, BMP and GIF pictures, but not this file. "
                    "Please send a photo."
                )
            # Checked before decoding: the header alone says how big the picture would be.
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(_TOO_MANY_PIXELS)
            image.seek(0)  # first frame of an animation
            image.load()
            image = ImageOps.exif_transpose(image) or image
            rgb = _to_rgb(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(_TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise ImageError("I could not open that file as a picture. Please send a photo.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageError(
            "That picture seems to be damaged or cut off, so I could not read it. Please send it again."
        ) from None
    return PreparedImage(
        image=rgb, data=data, mime=SUPPORTED_FORMATS[fmt], width=rgb.width, height=rgb.height
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for the model: transparency is laid on white, as a viewer would show it."""
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")
