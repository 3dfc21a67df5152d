"""Colour names: CIELAB and CIEDE2000 against published values, and photo-like pictures named right."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from bot.core.colours import (
    PALETTE,
    ColourShare,
    delta_e2000,
    describe_colours,
    main_colours,
    nearest_names,
    srgb_to_lab,
)


def cloth(rgb, width: int = 640, height: int = 480, *, shade=(1.0, 1.0), seed: int = 0) -> Image.Image:
    """A plain surface of one colour, lit from the left (`shade` left to right) with sensor noise."""
    rng = np.random.default_rng(seed)
    light = np.linspace(*shade, width, dtype=np.float32)[None, :, None]
    pixels = np.array(rgb, np.float32) * light * np.ones((height, 1, 1), np.float32)
    pixels += rng.normal(0, 3, (height, width, 1)).astype(np.float32)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def shares_of(shares: list[ColourShare]) -> dict[str, float]:
    return {c.name: round(c.share, 2) for c in shares}


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((0, 0, 128), "navy blue"),  # the web's navy, #000080
        ((28, 36, 84), "navy blue"),  # navy cloth in a photo
        ((128, 0, 32), "burgundy"),  # #800020
        ((245, 245, 220), "beige"),  # #F5F5DC
        ((211, 211, 211), "light grey"),  # #D3D3D3
        ((128, 128, 128), "grey"),
        ((20, 20, 20), "black"),
        ((248, 248, 248), "white"),
        ((255, 253, 208), "cream"),
        ((195, 176, 145), "khaki"),
        ((139, 69, 19), "brown"),
        ((210, 30, 35), "red"),
        ((255, 165, 0), "orange"),
        ((255, 230, 40), "yellow"),
        ((212, 175, 55), "gold"),
        ((128, 128, 0), "olive green"),
        ((0, 128, 0), "green"),
        ((0, 128, 128), "teal"),
        ((64, 224, 208), "turquoise"),
        ((173, 216, 230), "light blue"),
        ((65, 105, 225), "blue"),
        ((128, 0, 128), "purple"),
        ((255, 192, 203), "pink"),
        ((255, 105, 180), "hot pink"),
    ],
)
def test_plain_colours_get_the_names_people_use(rgb, name):
    assert main_colours(cloth(rgb)) == [ColourShare(name, 1.0)]
    assert describe_colours(main_colours(cloth(rgb))) == f"{name[0].upper()}{name[1:]}."


def test_a_navy_shirt_with_a_highlight_and_a_shadow_is_still_navy():
    shirt = cloth((28, 36, 84), 1200, 900, shade=(1.15, 0.5))
    glare = Image.new("L", shirt.size, 0)
    ImageDraw.Draw(glare).ellipse((540, 400, 640, 460), fill=255)  # a shiny button, 3% of the centre
    shirt = Image.composite(
        Image.new("RGB", shirt.size, "white"), shirt, glare.filter(ImageFilter.GaussianBlur(5))
    )
    shares = main_colours(shirt)
    assert describe_colours(shares) == "Navy blue."
    assert sum(c.share for c in shares) == pytest.approx(1.0)


@pytest.mark.parametrize(("rgb", "name"), [((200, 30, 30), "red"), ((211, 211, 211), "light grey")])
def test_uneven_light_across_one_thing_keeps_one_name(rgb, name):
    assert describe_colours(main_colours(cloth(rgb, shade=(1.05, 0.6)))) == f"{name[0].upper()}{name[1:]}."


def test_the_centre_is_named_and_the_border_ignored_unless_asked():
    picture = cloth((245, 245, 220))  # a beige wall around
    picture.paste(cloth((128, 0, 32), 340, 260), (150, 110))  # a burgundy cushion in the middle
    assert main_colours(picture) == [ColourShare("burgundy", 1.0)]
    whole = shares_of(main_colours(picture, region="whole"))
    assert set(whole) == {"beige", "burgundy"} and whole["beige"] > whole["burgundy"]


def test_a_red_flag_with_white_and_a_little_black():
    flag = cloth((205, 25, 30), 800, 600)
    draw = ImageDraw.Draw(flag)
    draw.rectangle((200, 150, 600, 220), fill=(240, 240, 240))  # white band, 28% of the centre
    draw.rectangle((200, 400, 600, 428), fill=(15, 15, 15))  # black band, 11%
    shares = main_colours(flag)
    assert [c.name for c in shares] == ["red", "white", "black"]
    assert sum(c.share for c in shares) == pytest.approx(1.0)
    assert describe_colours(shares) == "Mostly red, with some white and a little black."


def test_white_counts_when_it_is_a_part_not_a_glint():
    picture = cloth((28, 36, 84), 800, 600)
    ImageDraw.Draw(picture).rectangle((200, 150, 600, 250), fill=(255, 255, 255))  # clipped, a third
    assert shares_of(main_colours(picture)) == {"navy blue": 0.67, "white": 0.33}


def test_shades_two_steps_apart_stay_apart():
    stripes = cloth((28, 36, 84), 800, 600)
    draw = ImageDraw.Draw(stripes)
    for top in range(150, 450, 60):
        draw.rectangle((0, top, 800, top + 24), fill=(165, 200, 235))
    assert [c.name for c in main_colours(stripes)] == ["navy blue", "light blue"]


def test_odd_pictures_still_get_an_answer():
    assert main_colours(Image.new("L", (3, 2), 128)) == [ColourShare("grey", 1.0)]
    assert main_colours(Image.new("RGB", (1, 1), (200, 30, 30)), region="whole") == [ColourShare("red", 1.0)]
    confetti = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    shares = main_colours(confetti)
    assert shares and sum(c.share for c in shares) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # Sharma, Wu and Dalal (2005), test data pairs 1, 3, 7, 17, 25 and 34
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 2.8361, -74.0200), (50, 0, -82.7485), 3.4412),
        ((50, 0, 0), (50, -1, 2), 2.3669),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
        ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
    ],
)
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected):
    assert float(delta_e2000(np.array(lab1, float), np.array(lab2, float))) == pytest.approx(
        expected, abs=1e-4
    )


def test_srgb_to_lab_matches_known_values():
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [0, 0, 128], [255, 0, 0]]))
    assert lab == pytest.approx(
        np.array([[100, 0, 0], [0, 0, 0], [12.97, 47.51, -64.70], [53.24, 80.09, 67.20]]), abs=0.02
    )


def test_every_palette_colour_is_named_by_its_own_name():
    for name, references in PALETTE.items():
        assert nearest_names(np.array(references)) == [name] * len(references)
    assert 28 <= len(PALETTE) <= 36


@pytest.mark.parametrize(
    ("shares", "said"),
    [
        ([("navy blue", 1.0)], "Navy blue."),
        ([("navy blue", 0.92), ("white", 0.08)], "Navy blue."),
        ([("navy blue", 0.7), ("white", 0.3)], "Mostly navy blue, with some white."),
        ([("red", 0.7), ("white", 0.2), ("black", 0.1)], "Mostly red, with some white and a little black."),
        (
            [("red", 0.5), ("white", 0.2), ("grey", 0.2), ("black", 0.1)],
            "Mostly red, with some white and grey, and a little black.",
        ),
        ([("green", 0.8), ("yellow", 0.1), ("brown", 0.1)], "Mostly green, with a little yellow and brown."),
        ([("red", 0.4), ("white", 0.35), ("black", 0.25)], "Red, white and black."),
        (
            [("blue", 0.45), ("white", 0.2), ("grey", 0.2), ("black", 0.15)],
            "Blue, with some white, grey and black.",
        ),
        ([("red", 0.5), ("blue", 0.5)], "Red and blue."),  # half and half: neither is "mostly"
        ([], "I could not make out any colours."),
    ],
)
def test_colours_are_said_largest_first_in_plain_words(shares, said):
    assert describe_colours([ColourShare(name, share) for name, share in shares]) == said
