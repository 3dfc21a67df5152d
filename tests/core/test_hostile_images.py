"""Hostile and odd files against `prepare_image`: each described or refused in a plain sentence.

The corpus (tests/fakes/bad_images.py) holds the files someone thought of; the property test
mutates good pictures into files nobody thought of. Either way the answer is a PreparedImage or
an ImageError, quickly, and never a crash. Then the size of what a queued request holds.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.core.images import MODEL_SIDE, ImageError, PreparedImage, prepare_image
from bot.core.preferences import Preferences
from bot.core.service import ChatService, ServiceOptions
from bot.core.types import ChatRef
from inference.ocr import OcrResult
from inference.worker import InferenceWorker
from tests.fakes import bad_images, photos
from tests.fakes.bad_images import HostileFile, corpus

LIMITS = {"max_bytes": 5 * 1024 * 1024, "max_pixels": 10_000_000}
#: The shipped limits (config.yaml's `limits`), for camera-sized photos.
DEFAULT_LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 50_000_000}
#: Generous for a 64x48 picture (a few ms), tight enough to catch a decoder that spins.
SECONDS_PER_INPUT = 2.0


def assert_plain(message: str) -> None:
    """A sentence for a person: no exception names, no tracebacks, no paths."""
    assert message.endswith("."), message
    for leak in ("Traceback", "Error", "Exception", 'File "', "PIL", "/"):
        assert leak not in message, message


def test_the_corpus_is_large_and_its_names_unique():
    names = [hostile.name for hostile in corpus()]
    assert len(names) >= 30 and len(set(names)) == len(names)
    assert any(h.accepted for h in corpus()) and any(not h.accepted for h in corpus())


@pytest.mark.parametrize("hostile", corpus(), ids=lambda hostile: hostile.name)
def test_each_hostile_file_is_described_or_refused_in_plain_words(hostile: HostileFile):
    started = time.perf_counter()
    if hostile.accepted:
        prepared = prepare_image(hostile.data, **LIMITS)
        assert prepared.image.mode == "RGB" and prepared.model_image.mode == "RGB"
        assert prepared.image.size == (prepared.width, prepared.height)
        assert max(prepared.model_image.size) <= MODEL_SIDE
    else:
        with pytest.raises(ImageError) as caught:
            prepare_image(hostile.data, **LIMITS)
        assert hostile.refusal in str(caught.value)
        assert_plain(str(caught.value))
    assert time.perf_counter() - started < SECONDS_PER_INPUT


@pytest.mark.parametrize(
    ("name", "pixel", "expected"),
    [
        ("png-16bit-gray", (0, 0), (128, 128, 128)),  # Pillow's own conversion gave white
        ("png-16bit-rgb", (0, 0), (128, 64, 16)),
        ("png-16bit-gray-alpha", (0, 0), (128, 128, 128)),
        ("png-16bit-gray-trns", (0, 0), (255, 255, 255)),  # every pixel is the transparent value
        ("png-rgb-colour-key", (0, 0), (255, 255, 255)),  # was drawn in the key colour
        ("png-palette-transparency", (5, 5), (255, 255, 255)),
        ("png-palette-transparency", (35, 5), (0, 0, 255)),
        ("png-gray-alpha", (0, 0), (172, 172, 172)),  # grey 90 at half opacity, on white
        ("cmyk-jpeg", (10, 10), (255, 255, 0)),
        ("animated-webp", (10, 10), (0, 255, 0)),  # the first frame
        ("animated-png", (10, 10), (0, 255, 0)),
    ],
)
def test_odd_pixel_formats_keep_their_colours(name: str, pixel: tuple[int, int], expected: tuple[int, ...]):
    got = prepare_image(bad_images.by_name(name).data, **LIMITS).image.getpixel(pixel)
    assert all(abs(a - b) <= 3 for a, b in zip(got, expected, strict=True)), got


@pytest.mark.parametrize(
    "name", ["exif-orientation-0", "exif-orientation-9", "exif-orientation-65535", "exif-orientation-as-text"]
)
def test_an_absurd_orientation_leaves_the_picture_as_it_is(name: str):
    assert prepare_image(bad_images.by_name(name).data, **LIMITS).image.size == (64, 32)


@pytest.mark.parametrize(
    "name", ["exif-turned-make-as-number", "exif-turned-resolution-as-text", "exif-turned-negative-width"]
)
def test_a_photo_whose_other_exif_tags_are_malformed_is_still_turned_upright(name: str):
    assert prepare_image(bad_images.by_name(name).data, **LIMITS).image.size == (32, 64)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_real_orientation_turns_the_picture(orientation: int):
    size = prepare_image(bad_images.exif_jpeg(orientation), **LIMITS).image.size
    assert size == ((64, 32) if orientation < 5 else (32, 64))


def test_a_16bit_transparency_value_marks_only_its_own_pixels():
    row = b"\x12\x34" * 4 + b"\x80\x80" * 4 + b"\xff\xff" * 4
    data = bad_images.png_of_rows(12, 1, 16, 0, [row], bad_images.png_chunk(b"tRNS", b"\x80\x80"))
    image = prepare_image(data, **LIMITS).image
    assert [image.getpixel((x, 0)) for x in (0, 5, 11)] == [(18, 18, 18), (255, 255, 255), (255, 255, 255)]


# ---- Mutated pictures: files nobody thought of ------------------------------------------------

SEEDS = (
    photos.jpeg(),
    photos.png(),
    photos.exif_rotated_jpeg(),
    photos.palette_gif(),
    photos.png_with_alpha(),
    photos.encode(photos.gradient(), "WEBP"),
    photos.encode(photos.gradient(), "BMP"),
    photos.encode(photos.gradient(), "JPEG", progressive=True),
    bad_images.by_name("animated-png").data,
    bad_images.by_name("animated-webp").data,
    bad_images.by_name("png-16bit-rgb").data,
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed picture with bytes flipped, cut short, spliced onto another's header, or grown."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "splice", "insert", "header"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "splice":
            other = draw(st.sampled_from(SEEDS))
            data = bytearray(other[: draw(st.integers(1, 64))]) + data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:  # the first bytes, where sizes and offsets live
            data[draw(st.integers(0, 40)) : draw(st.integers(0, 40))] = draw(st.binary(max_size=8))
    return bytes(data)


@settings(
    max_examples=400,
    deadline=None,  # timed below, as one budget per input, so a slow CI machine is not flaky
    derandomize=True,  # the same inputs every run, as the schemathesis test's seed
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated())
def test_a_mutated_picture_is_prepared_or_refused_and_never_crashes(data: bytes):
    started = time.perf_counter()
    try:
        prepared = prepare_image(data, **LIMITS)
    except ImageError as error:
        assert_plain(str(error))
    else:
        assert isinstance(prepared, PreparedImage) and prepared.image.mode == "RGB"
    assert time.perf_counter() - started < SECONDS_PER_INPUT


# ---- What a queued request holds ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "model_size"),
    [((4000, 3000), (1024, 768)), ((3000, 4000), (768, 1024)), ((1024, 10), (1024, 10)),
     ((640, 480), (640, 480)), ((1, 5000), (1, 1024)), ((5000, 1), (1024, 1))],
)  # fmt: skip
def test_the_models_copy_fits_1024_keeps_its_aspect_and_is_never_enlarged(size, model_size):
    prepared = prepare_image(photos.encode(Image.new("RGB", size, (200, 10, 10)), "PNG"), **DEFAULT_LIMITS)
    assert prepared.image.size == size and (prepared.width, prepared.height) == size
    assert prepared.model_image.size == model_size
    if max(size) <= MODEL_SIDE:
        assert prepared.model_image is prepared.image, "a small picture is not copied"


async def test_a_big_photo_reaches_the_model_small_and_ocr_full_size(store, engine):
    """4000x3000 in: five requests of at most 1024 px, while OCR reads every pixel."""
    read_sizes: list[tuple[int, int]] = []

    def ocr(image: Image.Image, language: str) -> OcrResult:
        read_sizes.append(image.size)
        return OcrResult("", None)

    worker = InferenceWorker(engine, queue_size=8, max_batch_size=8, batch_wait_ms=0)
    await worker.start()
    try:
        options = ServiceOptions(request_timeout_s=5, preferences=Preferences(detail="full"))
        service = ChatService(store, worker, options, ocr=ocr, ocr_languages=lambda: ["eng"])
        engine.enqueue("a field", "0", "outside", "grass", "yes")
        await service.describe_photo(ChatRef("test", "big", "ann"), photos.large_jpeg(4000, 3000))
    finally:
        await worker.stop()
    assert len(engine.requests) == 5
    assert {request.image.size for request in engine.requests} == {(1024, 768)}, (
        "bot/core/generating.py model_request must send photo.prepared.model_image"
    )
    assert len({id(request.image) for request in engine.requests}) == 1, "the five share one copy"
    assert read_sizes == [(4000, 3000)]
