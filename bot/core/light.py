"""How much light a photo holds, whether a light seems to be on, and whether it is too dark,
too bright or blurred to be worth describing as it is.

`assess_light` measures a small grey copy (10 ms on a 12 MP photo, 2 ms on the model's 1024 px
copy, which judges as well); `light_hint` turns the measures into one short hint said before a
description, `describe_light` into the answer to /light. Phone cameras set their exposure
themselves, so "dark" means the photo, not the room. Blocking CPU work: call it in a thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bot.core import texts

#: The copy measured is at most this many pixels on its long side (a box-filtered reduction of
#: the green channel, which carries most of the luminance: 7 ms of the ~10 on a 12 MP photo).
#: Blur is judged at this scale: finer than the model sees (224 to 364 px), about a phone screen.
ANALYSIS_SIDE_PIXELS = 800
#: Grey levels (0 to 255) below which a pixel is near black, and from which it is clipped white.
NEAR_BLACK_LEVEL = 26
CLIPPED_LEVEL = 250
#: Very dark: half the photo near black (the median, so a lamp in view does not hide the dark).
VERY_DARK_MEDIAN = 0.1
#: Overexposed, facing a light: between these shares clipped and the rest in its shadow (median
#: under `BACKLIT_REST_MEDIAN`), as when a window or a lamp is behind the subject. (With more
#: clipped, what is left is detail such as print, not a subject in shadow.)...
BACKLIT_SHARES = (0.2, 0.75)
BACKLIT_REST_MEDIAN = 0.3
#: ...or washed out: this share clipped and nothing dark left, not even print. A white page with
#: black text is neither, even where the camera clips its paper.
WASHED_OUT_SHARE = 0.6
WASHED_OUT_DARK_SHARE = 0.01
#: A bright spot is clipped pixels of this share of the photo, at least, (a bulb across a room)
#: up to `SPOT_MAX_SHARE` (more is a window, or the whole scene), mostly in a few tight cells...
SPOT_MIN_SHARE = 0.0005
SPOT_MAX_SHARE = 0.25
SPOT_CELL_PIXELS = 16
#: ...in a scene whose median luma is under this: a white shirt in daylight is no lamp.
SPOT_SCENE_MEDIAN = 0.6
#: /light's words for the median luma, in four steps a person can tell apart; the first two say
#: whether a light seems to be on either way, since that is when people ask.
BRIGHTNESS_WORDS = (
    (0.15, texts.IT_IS_DARK),
    (0.35, texts.IT_IS_FAIRLY_DARK),
    (0.65, texts.IT_IS_FAIRLY_BRIGHT),
    (float("inf"), texts.IT_IS_BRIGHT),
)
#: A spot under this share of the photo is a lamp or a bulb; a larger one a window, or a lamp close up.
LAMP_SPOT_SHARE = 0.05
#: Edge sharpness below which a photo is blurred (see `_edge_sharpness`): sharp photos score 0.9
#: and more, edges blurred by a Gaussian of 0.5 px at this scale about 0.8, of 1 px about 0.6.
BLURRED_SHARPNESS = 0.7
#: Blur is only judged when the strongest edges rise at least this many grey levels per pixel;
#: a plain wall or a dark photo has nothing to judge it by.
MIN_EDGE_STRENGTH = 6
#: The share of the strongest edge pixels the sharpness is measured on.
TOP_EDGE_SHARE = 0.005


@dataclass(frozen=True, slots=True)
class LightReport:
    """Measures of one photo; luma and shares are 0 to 1."""

    mean: float
    median: float
    dark_share: float  # near-black pixels
    clipped_share: float  # clipped white pixels
    unclipped_median: float  # the median of the rest
    spot_share: float  # the bright spot's share, 0 when there is none
    sharpness: float | None  # edge sharpness, None when the photo has no edges to judge

    @property
    def very_dark(self) -> bool:
        return self.median < VERY_DARK_MEDIAN

    @property
    def overexposed(self) -> bool:
        low, high = BACKLIT_SHARES
        backlit = low <= self.clipped_share <= high and self.unclipped_median < BACKLIT_REST_MEDIAN
        washed_out = self.clipped_share >= WASHED_OUT_SHARE and self.dark_share < WASHED_OUT_DARK_SHARE
        return backlit or washed_out

    @property
    def blurred(self) -> bool:
        return self.sharpness is not None and self.sharpness < BLURRED_SHARPNESS

    @property
    def light_seen(self) -> bool:
        return self.spot_share > 0


def assess_light(image: Image.Image) -> LightReport:
    """Measure `image` (RGB or grey) on a copy at most `ANALYSIS_SIDE_PIXELS` long."""
    factor = max(1, math.ceil(max(image.size) / ANALYSIS_SIDE_PIXELS))
    grey = image.getchannel("G") if image.mode in ("RGB", "RGBA") else image.convert("L")
    levels = np.asarray(grey.reduce(factor) if factor > 1 else grey)
    counts = np.bincount(levels.ravel(), minlength=256)
    total = max(1, levels.size)
    clipped = levels >= CLIPPED_LEVEL
    median = _percentile(counts, 0.5) / 255
    return LightReport(
        mean=float(counts @ np.arange(256)) / total / 255,
        median=median,
        dark_share=float(counts[:NEAR_BLACK_LEVEL].sum()) / total,
        clipped_share=float(counts[CLIPPED_LEVEL:].sum()) / total,
        unclipped_median=_percentile(counts[:CLIPPED_LEVEL], 0.5) / 255,
        spot_share=_spot_share(clipped, median),
        sharpness=_edge_sharpness(levels.astype(np.int16)),
    )


def light_hint(report: LightReport) -> str | None:
    """One short hint to say before a description, or None for a photo that is fine.

    Darkness comes first: a dark photo is also noisy, and a blur in it does not matter yet.
    """
    if report.very_dark:
        return texts.VERY_DARK_HINT
    if report.overexposed:
        return texts.OVEREXPOSED_HINT
    if report.blurred:
        return texts.BLURRED_HINT
    return None


def describe_light(report: LightReport) -> str:
    """The answer to /light: how bright the photo is, then whether a light seems to be on."""
    said = next(words for below, words in BRIGHTNESS_WORDS if report.median < below)
    if report.light_seen and report.spot_share < LAMP_SPOT_SHARE:
        said += texts.LAMP_SEEN
    elif report.light_seen:
        said += texts.WINDOW_SEEN
    elif report.overexposed:
        said += texts.GLARE_SEEN
    elif report.median < BRIGHTNESS_WORDS[1][0]:
        said += texts.NO_LIGHT_SEEN
    return said


def _spot_share(clipped: np.ndarray, median: float) -> float:
    """The share of clipped pixels when they form a bright spot (a lamp, a bulb) in a darker
    scene, else 0. Clipped pixels are a spot when most lie in cells mostly clipped themselves,
    which scattered glints (sparkles, white print) do not."""
    share = float(clipped.mean())
    if not SPOT_MIN_SHARE <= share <= SPOT_MAX_SHARE or median >= SPOT_SCENE_MEDIAN:
        return 0.0
    cell = SPOT_CELL_PIXELS if min(clipped.shape) >= 4 * SPOT_CELL_PIXELS else 1
    rows, cols = clipped.shape[0] // cell, clipped.shape[1] // cell
    cells = clipped[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell).mean(axis=(1, 3))
    in_spot = cells[cells >= 0.5].sum() * cell * cell
    return share if in_spot >= 0.5 * clipped.sum() else 0.0


def _edge_sharpness(grey: np.ndarray) -> float | None:
    """How sharp the strongest edges are: the top Laplacian responses over the top gradients.

    For an edge blurred over a width w this is about 1/w, whatever the edge's contrast and
    however few edges the scene holds, where the variance of the Laplacian alone is small for a
    sharp plain wall and large for a blurred busy scene. Noise raises it: a noisy photo is
    taken for sharp, never for blurred. None when there is no edge to judge by. Integer
    histograms stand in for float percentiles (2 ms instead of 15).
    """
    if min(grey.shape) < 3:
        return None
    centre = grey[1:-1, 1:-1]
    laplacian = np.abs(grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * centre)
    # Twice the gradient, in the L1 norm: central differences span 2 pixels.
    gradient = np.abs(grey[1:-1, 2:] - grey[1:-1, :-2]) + np.abs(grey[2:, 1:-1] - grey[:-2, 1:-1])
    top_gradient = _percentile(np.bincount(gradient.ravel()), 1 - TOP_EDGE_SHARE) / 2
    if top_gradient < MIN_EDGE_STRENGTH:
        return None
    return _percentile(np.bincount(laplacian.ravel()), 1 - TOP_EDGE_SHARE) / top_gradient


def _percentile(counts: np.ndarray, fraction: float) -> float:
    """The value below which `fraction` of a histogram's samples lie (value = bin index)."""
    total = counts.sum()
    if not total:
        return 0.0
    return float(np.searchsorted(np.cumsum(counts), fraction * total))
