"""Reading the text in a photo with Tesseract: labels, letters, screens, signs.

BLIP-2 cannot read; Tesseract can, if it is given a clean, upright, large enough picture.
`read_text` prepares one (grayscale, contrast, upscaling small images, turning it by the
orientation Tesseract detects), keeps only the words Tesseract is reasonably sure of, and
returns them in reading order with lines joined into sentences. Blocking: call it in a thread.
It runs beside the model worker, never through its queue.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytesseract
from PIL import Image, ImageOps

log = logging.getLogger(__name__)

#: Words Tesseract is less sure of than this (0 to 100) are dropped as noise.
MIN_WORD_CONFIDENCE = 60
#: Images smaller than this on their longer side are enlarged before reading.
UPSCALE_BELOW_PIXELS = 1600
#: Tesseract's orientation confidence above which its answer is taken without trying the others.
SURE_ORIENTATION_CONFIDENCE = 2.0
OSD_TIMEOUT_S = 20
OCR_TIMEOUT_S = 60


class OcrUnavailable(RuntimeError):
    """Tesseract, or the asked-for language pack, is not installed."""


#: Tesseract's word boxes as `image_to_data(..., output_type=Output.DICT)` gives them.
WordBoxes = Mapping[str, Sequence[object]]


@dataclass(frozen=True, slots=True)
class OcrResult:
    """The text found (empty when none), in reading order, and Tesseract's mean word confidence.

    The rest is what Tesseract saw, kept so the caller can tell the person about the framing
    (text cut off at an edge, a page upside down) without reading the photo twice: the word
    boxes of the reading kept, the size of the image they are measured on (the prepared one,
    turned `rotated_degrees` clockwise), and the orientation detection (None when Tesseract had
    too little text to judge).
    """

    text: str
    confidence: float | None
    rotated_degrees: int = 0
    words: WordBoxes | None = field(default=None, repr=False)
    read_size: tuple[int, int] | None = None
    orientation: Mapping[str, object] | None = None

    @property
    def found(self) -> bool:
        return bool(self.text)


def installed_languages() -> list[str]:
    """Tesseract's installed language packs, without the orientation-only 'osd' pack."""
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        return []
    try:
        return sorted(lang for lang in pytesseract.get_languages(config="") if lang != "osd")
    except (pytesseract.TesseractError, OSError, subprocess.SubprocessError):
        return []


def read_text(image: Image.Image, language: str = "eng") -> OcrResult:
    """The words in `image` (an upright RGB picture, EXIF already applied)."""
    languages = installed_languages()
    if not languages:
        raise OcrUnavailable("Tesseract is not installed")
    if any(part not in languages for part in language.split("+")):
        raise OcrUnavailable(f"the OCR language {language!r} is not installed")
    prepared = _prepare(image)
    osd = _orientation(prepared)
    angle = int(str(osd.get("rotate", 0))) % 360 if osd else 0
    sure = osd is not None and float(str(osd.get("orientation_conf", 0))) >= SURE_ORIENTATION_CONFIDENCE
    best = _Reading(angle, *_read(_turn(prepared, angle), language))
    if not sure:
        # Orientation detection is unsure with little text: read all four ways round and keep
        # the reading with the most confidently recognised text.
        others = [
            _Reading(turn, *_read(_turn(prepared, turn), language))
            for turn in (0, 90, 180, 270)
            if turn != angle
        ]
        best = max([best, *others], key=lambda r: _score(r.text, r.confidence))
    return OcrResult(
        text=best.text,
        confidence=best.confidence,
        rotated_degrees=best.angle,
        words=best.words,
        read_size=best.size,
        orientation=osd,
    )


@dataclass(frozen=True, slots=True)
class _Reading:
    angle: int
    text: str
    confidence: float | None
    words: WordBoxes
    size: tuple[int, int]


def _prepare(image: Image.Image) -> Image.Image:
    gray = ImageOps.grayscale(image)
    longest = max(gray.size)
    if longest < UPSCALE_BELOW_PIXELS:
        factor = min(4.0, UPSCALE_BELOW_PIXELS / longest)
        gray = gray.resize(
            (round(gray.width * factor), round(gray.height * factor)), Image.Resampling.LANCZOS
        )
    return ImageOps.autocontrast(gray, cutoff=1)


def _orientation(image: Image.Image) -> dict[str, object] | None:
    """Tesseract's orientation detection ("rotate": degrees clockwise the text is turned, 0, 90,
    180 or 270, and "orientation_conf"), or None when it has too little text to judge."""
    try:
        return pytesseract.image_to_osd(image, output_type=pytesseract.Output.DICT, timeout=OSD_TIMEOUT_S)
    except (pytesseract.TesseractError, RuntimeError):
        return None


def _turn(image: Image.Image, degrees: int) -> Image.Image:
    return image.rotate(-degrees, expand=True, fillcolor=255) if degrees else image


def _score(text: str, confidence: float | None) -> float:
    return sum(ch.isalnum() for ch in text) * (confidence or 0)


def _read(image: Image.Image, language: str) -> tuple[str, float | None, WordBoxes, tuple[int, int]]:
    data = pytesseract.image_to_data(
        image, lang=language, config="--psm 3", output_type=pytesseract.Output.DICT, timeout=OCR_TIMEOUT_S
    )
    blocks: dict[tuple[int, int], list[list[str]]] = {}
    line_keys: dict[tuple[int, int, int], int] = {}
    confidences: list[float] = []
    for index, word in enumerate(data["text"]):
        word = word.strip()
        confidence = float(data["conf"][index])
        if not word or confidence < MIN_WORD_CONFIDENCE or not any(ch.isalnum() for ch in word):
            continue
        paragraph = (data["block_num"][index], data["par_num"][index])
        line = (*paragraph, data["line_num"][index])
        lines = blocks.setdefault(paragraph, [])
        if line not in line_keys:
            line_keys[line] = len(lines)
            lines.append([])
        lines[line_keys[line]].append(word)
        confidences.append(confidence)
    paragraphs = [join_lines([" ".join(words) for words in lines]) for lines in blocks.values()]
    text = "\n".join(p for p in paragraphs if p)
    return text, (sum(confidences) / len(confidences) if confidences else None), data, image.size


def join_lines(lines: list[str]) -> str:
    """One paragraph from its lines, the way a person would read them aloud.

    A hyphen at a line end joins the word; a line that starts in lower case continues the
    sentence (wrapped prose); a line that starts a new capitalised phrase, as on signs and
    labels, stays a line of its own.
    """
    text = ""
    for line in lines:
        line = re.sub(r"\s+", " ", line.strip())
        if not line:
            continue
        if not text:
            text = line
        elif text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
            text = text[:-1] + line
        elif line[:1].isupper() and not text.endswith((",", ";", ":")):
            text = f"{text}\n{line}"
        else:
            text = f"{text} {line}"
    return text
