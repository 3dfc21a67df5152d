"""Light and blur, measured on pictures made to look like the photos that go wrong."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from bot.core.light import LightReport, assess_light, describe_light, light_hint
from tests.fakes.photos import sign_image


def noisy(pixels: np.ndarray, sigma: float = 3.0, seed: int = 0) -> Image.Image:
    noise = np.random.default_rng(seed).normal(0, sigma, (*pixels.shape[:2], 1))
    return Image.fromarray((pixels.astype(np.float32) + noise).clip(0, 255).astype(np.uint8))


def room(width: int = 1600, height: int = 1200, brightness: float = 1.0, seed: int = 0) -> Image.Image:
    """Furniture-like shapes with sharp edges on a mid-grey wall, lit by `brightness`."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (150, 140, 125))
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x, y = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 30, width // 5, 2)
        colour = tuple(int(v) for v in rng.integers(30, 230, 3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x, y, x + w, y + h), fill=colour)
    return noisy(np.asarray(image) * brightness, seed=seed)


def lamp(image: Image.Image, box=(1100, 250, 1200, 350)) -> Image.Image:
    """A lit bulb: clipped white with a warm glow around it."""
    bulb = Image.new("L", image.size, 0)
    ImageDraw.Draw(bulb).ellipse(box, fill=255)
    glow = Image.eval(bulb.filter(ImageFilter.GaussianBlur(40)), lambda v: min(255, v * 2))
    image = Image.composite(Image.new("RGB", image.size, (255, 235, 190)), image, glow)
    return Image.composite(Image.new("RGB", image.size, "white"), image, bulb)


def test_a_black_photo_is_very_dark():
    report = assess_light(Image.new("RGB", (800, 600)))
    assert report.very_dark and report.dark_share == 1.0 and not report.light_seen
    assert light_hint(report) == "This photo is very dark. Try again with more light."
    assert describe_light(report) == "It is dark. I see no bright spot that could be a light that is on."


def test_a_white_photo_is_overexposed():
    report = assess_light(Image.new("RGB", (800, 600), "white"))
    assert report.overexposed and report.clipped_share == 1.0 and not report.light_seen
    assert light_hint(report) == (
        "This photo is very bright, perhaps facing a light. Try again with the light behind you."
    )
    assert describe_light(report) == (
        "It is bright. Much of the photo is too bright to see, perhaps a window or a light facing the camera."
    )


def test_a_well_lit_sharp_photo_gets_no_hint():
    report = assess_light(room())
    assert not (report.very_dark or report.overexposed or report.blurred or report.light_seen)
    assert 0.3 < report.mean < 0.7 and report.sharpness is not None
    assert light_hint(report) is None
    assert describe_light(report) == "It is fairly bright."


def test_mid_grey_texture_is_fine():
    texture = noisy(np.full((900, 1200, 3), 128.0), sigma=25)
    report = assess_light(texture)
    assert report.median == pytest.approx(0.5, abs=0.03)
    assert not report.blurred and light_hint(report) is None


@pytest.mark.parametrize("radius", [3, 6])
def test_a_blurred_photo_is_told_to_hold_still(radius):
    sharp, blurred = room(seed=1), room(seed=1).filter(ImageFilter.GaussianBlur(radius))
    assert not assess_light(sharp).blurred
    report = assess_light(blurred)
    assert report.blurred and report.sharpness < assess_light(sharp).sharpness
    assert light_hint(report) == "This photo is blurred. Hold the camera still and try again."


def test_blur_is_judged_by_edges_not_by_how_busy_the_scene_is():
    wall = Image.new("RGB", (1600, 1200), (200, 195, 185))
    ImageDraw.Draw(wall).rectangle((700, 300, 760, 900), fill=(90, 60, 40))  # one sharp door frame
    plain = assess_light(noisy(np.asarray(wall), sigma=2))
    assert not plain.blurred and light_hint(plain) is None
    assert assess_light(wall.filter(ImageFilter.GaussianBlur(5))).blurred


def test_a_blurred_page_of_text_is_blurred_and_a_sharp_one_is_not():
    page = sign_image(["PHARMACY OPEN DAILY", "Closed on Sunday from noon", "Exit by the blue door"], 40)
    assert light_hint(assess_light(page)) is None, "clipped white paper around print is not overexposed"
    assert assess_light(page.filter(ImageFilter.GaussianBlur(3))).blurred


def test_a_dark_room_with_a_lamp_on():
    report = assess_light(lamp(room(brightness=0.08)))
    assert report.very_dark and report.light_seen and 0 < report.spot_share < 0.05
    assert light_hint(report) == "This photo is very dark. Try again with more light."
    assert describe_light(report) == "It is dark. There is a bright spot that may be a light that is on."


def test_the_same_room_with_the_lamp_off():
    report = assess_light(room(brightness=0.08))
    assert not report.light_seen
    assert describe_light(report) == "It is dark. I see no bright spot that could be a light that is on."


def test_a_lamp_in_a_dim_room_is_seen_and_the_room_is_not_very_dark():
    report = assess_light(lamp(room(brightness=0.35)))
    assert report.light_seen and not report.very_dark
    assert (
        describe_light(report) == "It is fairly dark. There is a bright spot that may be a light that is on."
    )


def test_a_large_bright_area_in_a_dim_room_may_be_a_window():
    dim = room(brightness=0.3)
    dim.paste((255, 255, 255), (1000, 200, 1400, 600))  # 8% of the photo
    report = assess_light(dim)
    assert report.light_seen and report.spot_share > 0.05 and not report.overexposed
    assert describe_light(report) == (
        "It is fairly dark. There is a large bright area, perhaps a window or a light that is on."
    )


def test_scattered_glints_and_white_things_in_daylight_are_no_lamp():
    dark = np.asarray(room(brightness=0.1), dtype=np.float32)
    rng = np.random.default_rng(2)
    ys, xs = rng.integers(0, 1200, 4000), rng.integers(0, 1600, 4000)
    dark[ys, xs] = 255  # sparkles, 0.2% of the pixels, all apart
    assert not assess_light(Image.fromarray(dark.astype(np.uint8))).light_seen
    daylight = room(brightness=1.5)
    ImageDraw.Draw(daylight).rectangle((400, 300, 800, 700), fill="white")  # a white shirt
    assert not assess_light(daylight).light_seen


def test_facing_a_window_is_overexposed():
    backlit = room(brightness=0.2)
    backlit.paste((255, 255, 255), (0, 0, 1600, 450))  # the window, 38% of the photo, behind a dim room
    report = assess_light(backlit)
    assert report.overexposed and light_hint(report).startswith("This photo is very bright")
    assert describe_light(report) == (
        "It is dark. Much of the photo is too bright to see, perhaps a window or a light facing the camera."
    )


def test_a_12_megapixel_photo_is_judged_like_its_smaller_copy():
    big = room(4000, 3000, seed=3)
    small = big.resize((1000, 750), Image.Resampling.BOX)
    a, b = assess_light(big), assess_light(small)
    assert a.median == pytest.approx(b.median, abs=0.02)
    assert (a.very_dark, a.overexposed, a.blurred, a.light_seen) == (False, False, False, False)
    assert assess_light(big.filter(ImageFilter.GaussianBlur(10))).blurred


def test_a_dark_noisy_photo_gets_the_dark_hint_not_the_blur_hint():
    report = assess_light(room(brightness=0.06).filter(ImageFilter.GaussianBlur(4)))
    assert light_hint(report) == "This photo is very dark. Try again with more light."


def test_tiny_and_grey_pictures_are_measured():
    report = assess_light(Image.new("L", (2, 2), 128))
    assert report.sharpness is None and not report.blurred
    assert isinstance(assess_light(Image.new("RGB", (1, 1), "white")), LightReport)


@pytest.mark.parametrize(
    ("median", "said"),
    [
        (0.05, "It is dark."),
        (0.25, "It is fairly dark."),
        (0.5, "It is fairly bright."),
        (0.8, "It is bright."),
    ],
)
def test_brightness_is_said_in_four_plain_steps(median, said):
    report = LightReport(median, median, 0.0, 0.0, median, 0.0, None)
    assert describe_light(report).startswith(said)
