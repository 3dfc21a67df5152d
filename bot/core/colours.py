"""The main colours of a photo, named as a person would name them: "Mostly navy blue, with some white."

Each pixel of a small copy of the photo's centre (where people point the camera) gets the nearest
of about 30 everyday colour names in CIELAB, by CIEDE2000 with lightness weighted half (the
textile trade's 2:1, so shading changes a name less than a change of hue does); the larger of two
neighbouring shades of one colour (red, dark red) takes in the other; small shares and small
specular highlights are left out. Blocking CPU work (10 ms on a 12 MP photo): call it in a thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from bot.core import texts

#: The copy that is named is at most this many pixels on its long side: colours do not need
#: detail, and 64x48 pixels are a few ms of numpy.
ANALYSIS_SIDE_PIXELS = 64
#: Names of less than this share are left out: edges between colours, noise, a stray object.
MIN_SHARE = 0.05
#: Near-white pixels clipped by the camera (every channel at or above `CLIPPED_LEVEL`) are taken
#: for a specular highlight and ignored while they are under this share of the picture; more
#: is a white thing, or an overexposed photo, and counts.
HIGHLIGHT_SHARE = 0.12
CLIPPED_LEVEL = 245
#: Lightness weight k_L of CIEDE2000 (1 is the graphic-arts default, 2 the textile one).
LIGHTNESS_WEIGHT = 2.0
#: "Mostly X" from this share of the named pixels; "X." alone from `ONLY_SHARE`.
MOSTLY_SHARE = 0.5
ONLY_SHARE = 0.9
#: Second colours of at least this share are "some", below it "a little".
SOME_SHARE = 0.15

#: Everyday names and typical sRGB colours of each, as a phone photo shows such a thing; a name
#: whose range is wide (navy: dyed cloth, and the web's #000080) has more than one.
PALETTE: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((18, 18, 18),),
    "dark grey": ((80, 80, 80),),
    "grey": ((128, 128, 128),),
    "light grey": ((205, 205, 205),),
    "white": ((250, 250, 250),),
    "cream": ((255, 250, 205),),
    "beige": ((235, 225, 195),),
    "khaki": ((190, 175, 130),),
    "light brown": ((190, 145, 100),),
    "brown": ((130, 80, 40),),
    "dark brown": ((85, 55, 30),),
    "red": ((205, 25, 30),),
    "dark red": ((110, 10, 10),),
    "burgundy": ((120, 10, 45),),
    "pink": ((245, 170, 190),),
    "hot pink": ((240, 60, 150),),
    "coral": ((250, 125, 105),),
    "orange": ((250, 140, 20),),
    "peach": ((250, 200, 160),),
    "yellow": ((250, 220, 30),),
    "gold": ((200, 160, 50),),
    "olive green": ((110, 110, 35),),
    "light green": ((150, 220, 130),),
    "green": ((40, 150, 50), (50, 220, 50)),
    "dark green": ((20, 80, 35),),
    "teal": ((0, 125, 125),),
    "turquoise": ((60, 205, 200),),
    "light blue": ((160, 200, 235),),
    "blue": ((35, 80, 200), (30, 130, 240), (10, 30, 245)),
    "navy blue": ((25, 35, 90), (0, 0, 128)),
    "purple": ((110, 45, 150),),
    "lilac": ((195, 160, 215),),
    "magenta": ((200, 30, 160),),
}

#: Darker and lighter names of one colour, dark to light. Light falling unevenly across one thing
#: moves its pixels a step along such a chain (a red jumper's shaded side is dark red), so the name
#: with the larger share takes in its neighbours' pixels. Two steps apart (navy and light blue
#: stripes, black and white) stay apart.
SHADES = (
    ("black", "dark grey", "grey", "light grey", "white"),
    ("dark red", "red"),
    ("dark brown", "brown", "light brown"),
    ("dark green", "green", "light green"),
    ("navy blue", "blue", "light blue"),
    ("teal", "turquoise"),
    ("purple", "lilac"),
    ("khaki", "beige", "cream"),
)

Region = Literal["centre", "whole"]

_SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


@dataclass(frozen=True, slots=True)
class ColourShare:
    """One colour name and its share (0 to 1) of the named pixels; a photo's shares add up to 1."""

    name: str
    share: float


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB values 0 to 255, shape (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65_WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray, *, lightness_weight: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference of Lab colours, broadcast over leading axes (Sharma et al. 2005)."""
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0, dh)
    dl, dc = l2 - l1, c2p - c1p
    big_dh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(
        c1p * c2p == 0,
        h_sum,
        np.where(
            np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, h_sum / 2 + 180, h_sum / 2 - 180)
        ),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = (
        -2
        * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
        * np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2))))
    )
    return np.sqrt(
        (dl / (lightness_weight * s_l)) ** 2
        + (dc / s_c) ** 2
        + (big_dh / s_h) ** 2
        + r_t * (dc / s_c) * (big_dh / s_h)
    )


_NAMES = list(PALETTE)
_SHADE_NEIGHBOURS = [
    [
        _NAMES.index(other)
        for chain in SHADES
        if name in chain
        for other in chain
        if abs(chain.index(other) - chain.index(name)) == 1
    ]
    for name in _NAMES
]
#: For each reference colour, the index of its name in `_NAMES`.
_NAME_OF_REFERENCE = np.array([i for i, colours in enumerate(PALETTE.values()) for _ in colours])
_PALETTE_LAB = srgb_to_lab(np.array([colour for colours in PALETTE.values() for colour in colours]))
#: CIEDE2000 is computed against only this many references per pixel, the nearest by a
#: lightness-weighted Euclidean distance: the nearest by CIEDE2000 is among them, at a tenth the work.
CANDIDATES = 4


def nearest_names(rgb: np.ndarray) -> list[str]:
    """The palette name nearest to each sRGB colour of `rgb`, shape (n, 3)."""
    return [_NAMES[i] for i in _nearest(srgb_to_lab(np.asarray(rgb).reshape(-1, 3)))]


def main_colours(image: Image.Image, *, region: Region = "centre") -> list[ColourShare]:
    """The colours of `image` (RGB), largest share first; of its middle half each way by default."""
    width, height = image.size
    box = (width // 4, height // 4, width - width // 4, height - height // 4) if region == "centre" else None
    crop_width, crop_height = (box[2] - box[0], box[3] - box[1]) if box else (width, height)
    factor = max(1, math.ceil(max(crop_width, crop_height) / ANALYSIS_SIDE_PIXELS))
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    small = rgb.reduce(factor, box=box) if factor > 1 or box else rgb
    pixels = np.asarray(small).reshape(-1, 3)
    if not len(pixels):
        return []
    clipped = pixels.min(axis=1) >= CLIPPED_LEVEL
    if 0 < clipped.mean() < HIGHLIGHT_SHARE:
        pixels = pixels[~clipped]
    counts = _shades_merged(np.bincount(_nearest(srgb_to_lab(pixels)), minlength=len(_NAMES)))
    shares = counts / counts.sum()
    kept = shares >= MIN_SHARE
    if not kept.any():  # a photo of confetti: name the commonest anyway
        kept = shares == shares.max()
    total = shares[kept].sum()
    found = [ColourShare(_NAMES[i], float(shares[i] / total)) for i in np.flatnonzero(kept)]
    return sorted(found, key=lambda c: -c.share)


def is_mostly_one(shares: list[ColourShare]) -> bool:
    """Whether the largest colour is "mostly" the picture: at least `MOSTLY_SHARE` and more than
    the next (a half-and-half split is two colours, not mostly the one that happens to come first)."""
    ranked = sorted((c.share for c in shares), reverse=True)
    return bool(ranked) and ranked[0] >= MOSTLY_SHARE and (len(ranked) == 1 or ranked[0] > ranked[1])


def describe_colours(shares: list[ColourShare]) -> str:
    """The colours in words, largest first: "Navy blue.", "Mostly navy blue, with some white."."""
    if not shares:
        return texts.NO_COLOURS
    shares = sorted(shares, key=lambda c: -c.share)
    top = shares[0]
    if top.share >= ONLY_SHARE or len(shares) == 1:
        return f"{_capitalised(top.name)}."
    if is_mostly_one(shares):
        lead, rest = f"Mostly {top.name}", shares[1:]
    else:
        main = [c for c in shares if c.share >= 0.25] or [top]
        lead, rest = _capitalised(_listed([c.name for c in main])), shares[len(main) :]
    some = [c.name for c in rest if c.share >= SOME_SHARE]
    little = [c.name for c in rest if c.share < SOME_SHARE]
    parts = ([f"some {_listed(some)}"] if some else []) + ([f"a little {_listed(little)}"] if little else [])
    if not parts:
        return f"{lead}."
    return f"{lead}, with {(', and ' if len(some) > 1 else ' and ').join(parts)}."


def _nearest(lab: np.ndarray) -> np.ndarray:
    """The index in `_NAMES` of the nearest name to each Lab colour of `lab`, shape (n, 3)."""
    scaled = np.array([1 / LIGHTNESS_WEIGHT, 1, 1])
    rough = np.linalg.norm((lab[:, None, :] - _PALETTE_LAB[None, :, :]) * scaled, axis=-1)
    candidates = np.argpartition(rough, CANDIDATES - 1, axis=1)[:, :CANDIDATES]
    exact = delta_e2000(lab[:, None, :], _PALETTE_LAB[candidates], lightness_weight=LIGHTNESS_WEIGHT)
    return _NAME_OF_REFERENCE[candidates[np.arange(len(lab)), exact.argmin(axis=1)]]


def _shades_merged(counts: np.ndarray) -> np.ndarray:
    """`counts` per name, each name's neighbours in `SHADES` taken in by the larger of the two."""
    counts = counts.copy()
    for i in np.argsort(-counts, kind="stable"):
        for j in _SHADE_NEIGHBOURS[i]:
            if 0 < counts[j] <= counts[i]:
                counts[i] += counts[j]
                counts[j] = 0
    return counts


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
