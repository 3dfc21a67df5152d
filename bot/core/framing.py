"""Framing help for reading: text cut off at an edge of the photo, a page upside down or sideways.

Both work on what Tesseract already said (`pytesseract.image_to_data` and `image_to_osd` output),
so they cost nothing beside the reading itself. Each returns one hint sentence, or None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from inference.ocr import MIN_WORD_CONFIDENCE, SURE_ORIENTATION_CONFIDENCE, OcrResult

#: A word within this share of the photo's side from an edge (and at least `EDGE_MARGIN_MIN_PIXELS`)
#: touches it. A cut word rarely reaches the last pixel: the cut may fall in a letter's white.
EDGE_MARGIN_SHARE = 0.015
EDGE_MARGIN_MIN_PIXELS = 4
#: Tesseract is unsure of a cut word (a 'C' cut in half reads as '‘'), so words at an edge count
#: from this confidence (0 to 100), when the page also holds a word read surely
#: (`MIN_WORD_CONFIDENCE`): then they are text, not the grain of a table top.
EDGE_WORD_CONFIDENCE = 20
#: Edges clockwise from the top, the order of Tesseract's turns.
EDGES = ("top", "right", "bottom", "left")


def framing_hints(result: OcrResult) -> list[str]:
    """The hints to say after what /read found: text cut off at an edge, then a turned page.

    Only when text was found: with none, "I found no text" already tells the person to try again.
    """
    if not result.found:
        return []
    hints = []
    if result.words is not None and result.read_size is not None:
        hints.append(edge_hint(result.words, *result.read_size, rotated_degrees=result.rotated_degrees))
    if result.orientation is not None:
        hints.append(orientation_hint(result.orientation))
    return [hint for hint in hints if hint]


def edge_hint(
    words: Mapping[str, Sequence[object]], width: int, height: int, *, rotated_degrees: int = 0
) -> str | None:
    """The hint "Some text may be cut off at the right edge. ..." when words touch an edge of the photo.

    `words` is `pytesseract.image_to_data(..., output_type=Output.DICT)` of an image `width` x
    `height`, turned `rotated_degrees` clockwise from the photo before reading (as
    `inference.ocr.OcrResult.rotated_degrees`): the edges named are the photo's, as the person
    held the phone.
    """
    touched: set[str] = set()
    sure = False
    margin_x = max(EDGE_MARGIN_MIN_PIXELS, EDGE_MARGIN_SHARE * width)
    margin_y = max(EDGE_MARGIN_MIN_PIXELS, EDGE_MARGIN_SHARE * height)
    for i, text in enumerate(words.get("text", ())):
        confidence = _number(words["conf"][i])
        if sum(ch.isalnum() for ch in str(text)) < 2 or confidence < EDGE_WORD_CONFIDENCE:
            continue
        sure = sure or confidence >= MIN_WORD_CONFIDENCE
        left, top = _number(words["left"][i]), _number(words["top"][i])
        right, bottom = left + _number(words["width"][i]), top + _number(words["height"][i])
        touched |= {
            edge
            for edge, touching in zip(
                EDGES,
                (top <= margin_y, right >= width - margin_x, bottom >= height - margin_y, left <= margin_x),
                strict=True,
            )
            if touching
        }
    if not sure or not touched:
        return None
    turns = (rotated_degrees // 90) % 4
    named = [edge for n, edge in enumerate(EDGES) if EDGES[(n + turns) % 4] in touched]
    if len(named) == 1:
        where = f"the {named[0]} edge"
    else:
        where = f"the {', '.join(named[:-1])} and {named[-1]} edges"
    return f"Some text may be cut off at {where}. Move the camera back a little."


def orientation_hint(osd: Mapping[str, object] | str) -> str | None:
    """The hint "The page seems to be upside down." or "... turned sideways.", from Tesseract's
    orientation detection (`image_to_osd`, a dict or its text); None if upright or Tesseract is unsure."""
    fields = _osd_fields(osd) if isinstance(osd, str) else osd
    if _number(fields.get("orientation_conf", 0)) < SURE_ORIENTATION_CONFIDENCE:
        return None
    rotate = int(_number(fields.get("rotate", 0))) % 360
    if rotate == 180:
        return "The page seems to be upside down."
    if rotate in (90, 270):
        return "The page seems to be turned sideways."
    return None


def _osd_fields(text: str) -> dict[str, object]:
    """The lines "Rotate: 180" and "Orientation confidence: 11.85" as `Output.DICT` has them."""
    found = dict(re.findall(r"^\s*([A-Za-z ]+?)\s*:\s*(\S+)", text, re.MULTILINE))
    return {"rotate": found.get("Rotate", 0), "orientation_conf": found.get("Orientation confidence", 0)}


def _number(value: object) -> float:
    """Tesseract's numbers come as ints, floats or strings ('-1', '96.5'), by pytesseract version."""
    try:
        return float(str(value))
    except ValueError:
        return -1.0
