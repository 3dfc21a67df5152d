import pytest

from bot.core.images import ImageError, prepare_image
from tests.fakes import photos

LIMITS = {"max_bytes": 5 * 1024 * 1024, "max_pixels": 10_000_000}


def test_jpeg_decodes_to_rgb_with_its_mime_and_size():
    prepared = prepare_image(photos.jpeg(), **LIMITS)
    assert prepared.image.mode == "RGB"
    assert (prepared.mime, prepared.width, prepared.height) == ("image/jpeg", 64, 48)


def test_exif_orientation_is_applied():
    prepared = prepare_image(photos.exif_rotated_jpeg(), **LIMITS)
    assert prepared.image.size == (32, 64)
    top, bottom = prepared.image.getpixel((16, 8)), prepared.image.getpixel((16, 56))
    assert top[0] > 200 and top[2] < 60, "the red half is on top once turned the right way"
    assert bottom[2] > 200 and bottom[0] < 60


def test_a_gif_is_described_by_its_first_frame():
    red, green, _ = prepare_image(photos.palette_gif(), **LIMITS).image.getpixel((10, 10))
    assert green > 200 and red < 60


def test_cmyk_colours_survive_the_conversion():
    red, green, blue = prepare_image(photos.cmyk_jpeg(), **LIMITS).image.getpixel((10, 10))
    assert red > 200 and green > 200 and blue < 60, "yellow stays yellow"


def test_transparent_png_is_laid_on_white():
    prepared = prepare_image(photos.png_with_alpha(), **LIMITS)
    assert prepared.image.mode == "RGB"
    assert prepared.image.getpixel((35, 15)) == (255, 255, 255)
    assert prepared.image.getpixel((5, 15)) == (0, 0, 255)


@pytest.mark.parametrize(
    ("data", "mime"), [(photos.cmyk_jpeg(), "image/jpeg"), (photos.palette_gif(), "image/gif")]
)
def test_cmyk_and_palette_images_become_rgb(data, mime):
    prepared = prepare_image(data, **LIMITS)
    assert prepared.image.mode == "RGB"
    assert prepared.mime == mime


def test_webp_and_bmp_are_accepted():
    for fmt, mime in (("WEBP", "image/webp"), ("BMP", "image/bmp")):
        assert prepare_image(photos.encode(photos.gradient(), fmt), **LIMITS).mime == mime


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (photos.truncated_jpeg(), "damaged"),
        (photos.huge_header_png(), "too big"),
        (photos.TEXT_FILE_NAMED_JPG, "could not open"),
        (b"", "empty"),
        (photos.encode(photos.gradient(), "TIFF"), "JPEG, PNG"),
    ],
    ids=["truncated", "decompression-bomb", "text-file", "empty", "unsupported-format"],
)
def test_bad_uploads_raise_a_user_facing_error(data, words):
    with pytest.raises(ImageError) as caught:
        prepare_image(data, **LIMITS)
    message = str(caught.value)
    assert words in message
    assert "Traceback" not in message and "Error" not in message


def test_files_over_the_byte_limit_are_refused_before_decoding():
    with pytest.raises(ImageError, match="too large"):
        prepare_image(photos.jpeg(), max_bytes=100, max_pixels=10_000_000)


def test_pixel_limit_is_checked_from_the_header_before_decoding():
    with pytest.raises(ImageError, match="too big"):
        prepare_image(photos.huge_header_png(4000, 3000), max_bytes=1024 * 1024, max_pixels=10_000_000)
