"""QR codes and barcodes in a photo, and what they hold, said in plain sentences.

`scan_codes` reads a downscaled grey copy (fast enough to run on every photo) and goes back to full
resolution only where that pays: around a symbol it saw but could not decode, and over the whole
photo when asked to be thorough (/scan). `describe_codes` words the result for a screen reader:
links as host and path, Wi-Fi codes without their password. Blocking CPU work: call in a thread.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

import zxingcpp
from PIL import Image

#: The fast pass reads a grey copy of at most this many pixels, an integer reduction of the photo:
#: a 12 MP photo at 2000x1500, in about 25 ms on 2 cores. Reducing by 3 instead halves that but
#: finds a third fewer codes under 10% of the photo's width; a full-size read takes 0.3 to 1 s.
FAST_PASS_PIXELS = 3_300_000
#: Symbols seen but not decoded at the reduced size are read again at full size, smallest first,
#: in crops covering at most this many pixels together: so busy scenes (box shapes fool the Data
#: Matrix finder) cannot make a photo slow.
RESCAN_PIXELS = 1_000_000
#: Longer texts are cut at a word: a voice reading out a whole boarding pass helps nobody.
MAX_SPOKEN_CHARS = 300
#: More codes than this are counted, not read out one by one.
MAX_CODES_SPOKEN = 10

#: The symbologies of issue 17. Fewer formats is faster and keeps 1D false positives (ITF,
#: Codabar) out of textured photos. Needs zxing-cpp 3 (`try_invert`); `code_format` also
#: understands the names of 1.x and 2.x.
SCANNED_FORMATS = zxingcpp.barcode_formats_from_str(
    "QRCode,DataMatrix,PDF417,EAN-13,EAN-8,UPC-A,UPC-E,Code128,Code39"
)


class CodeFormat(StrEnum):
    """The kind of code, as the bot names it (zxing-cpp's names change between versions)."""

    QR = "QR code"
    DATA_MATRIX = "Data Matrix code"
    PDF417 = "PDF417 code"
    EAN13 = "EAN-13"
    EAN8 = "EAN-8"
    UPCA = "UPC-A"
    UPCE = "UPC-E"
    CODE128 = "Code 128"
    CODE39 = "Code 39"
    OTHER = "code"


#: zxing-cpp format names, lower case without punctuation: 2.x says "QRCode"/"EAN13", 3.x's
#: str() says "QR Code"/"EAN-13", and 3.x adds variants (Code39Std, CompactPDF417...).
_FORMATS = {
    **dict.fromkeys(("qrcode", "qrcodemodel1", "qrcodemodel2", "microqrcode", "rmqrcode"), CodeFormat.QR),
    **dict.fromkeys(("pdf417", "compactpdf417", "micropdf417"), CodeFormat.PDF417),
    **dict.fromkeys(("code39", "code39std", "code39ext"), CodeFormat.CODE39),
    "datamatrix": CodeFormat.DATA_MATRIX,
    "ean13": CodeFormat.EAN13,
    "ean8": CodeFormat.EAN8,
    "upca": CodeFormat.UPCA,
    "upce": CodeFormat.UPCE,
    "code128": CodeFormat.CODE128,
}
#: Digit groups as printed under the bars (EAN-13 1-6-6, UPC-A 1-5-5-1...), so a person can compare.
_DIGIT_GROUPS = {
    CodeFormat.EAN13: (1, 6, 6),
    CodeFormat.UPCA: (1, 5, 5, 1),
    CodeFormat.EAN8: (4, 4),
    CodeFormat.UPCE: (1, 6, 1),
}
_BARCODES = frozenset(_DIGIT_GROUPS) | {CodeFormat.CODE128, CodeFormat.CODE39}
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Box:
    """Where a code lies in the photo, in the photo's pixels."""

    left: int
    top: int
    right: int
    bottom: int

    def overlaps(self, other: Box) -> bool:
        return (
            self.left < other.right
            and other.left < self.right
            and self.top < other.bottom
            and other.top < self.bottom
        )


@dataclass(frozen=True, slots=True)
class FoundCode:
    """One decoded code. UPC texts are the digits printed under the bars (12 for UPC-A, 8 for UPC-E)."""

    format: CodeFormat
    text: str
    position: Box
    binary: bool = False  # holds bytes that are not text (its `text` is not worth reading out)


def scan_codes(image: Image.Image, *, thorough: bool = False) -> list[FoundCode]:
    """The codes in `image` (upright RGB or grey), in reading order: rows top to bottom, each left to right.

    On a 12 MP photo the fast pass finds a QR code from about 130 px across and an EAN-13 from
    about 340 px, dark on light. `thorough` (for when a person asks for the codes: 0.3 to 1 s)
    also reads the full-size photo, inverted too, and finds codes a third that size.
    """
    factor = max(1, math.ceil(math.sqrt(image.width * image.height / FAST_PASS_PIXELS)))
    # Green carries most of the luminance (0.59 of it), and taking it is a third of the work.
    grey = image.getchannel("G") if image.mode in ("RGB", "RGBA") else image.convert("L")
    small = grey.reduce(factor) if factor > 1 else grey
    found: list[FoundCode] = []
    unreadable: list[Box] = []
    # Light-on-dark codes are rare on paper and cost a second pass: they are left to `thorough`;
    # zxing-cpp's own downscaling adds nothing to a copy this small.
    for result in _read(small, try_invert=False, try_downscale=False, return_errors=factor > 1):
        if result.valid:
            found.append(_found(result, factor, 0, 0))
        else:
            unreadable.append(_box(result, factor, 0, 0))
    budget = RESCAN_PIXELS
    for box in sorted(unreadable, key=_area):
        # Seen but too fine at the reduced size: read its surroundings at full size.
        margin = max(box.right - box.left, box.bottom - box.top) // 2 + 8 * factor
        left, top = max(0, box.left - margin), max(0, box.top - margin)
        right, bottom = min(image.width, box.right + margin), min(image.height, box.bottom + margin)
        budget -= (right - left) * (bottom - top)
        if budget < 0:
            break
        found += [_found(result, 1, left, top) for result in _read(grey.crop((left, top, right, bottom)))]
    if thorough:
        found += [_found(result, 1, 0, 0) for result in _read(grey)]
    return in_reading_order(_distinct(found))


def in_reading_order(codes: list[FoundCode]) -> list[FoundCode]:
    """Rows top to bottom, left to right within a row. A code is on a row when at least half its
    height (or the row's first code's, if smaller) lies beside that code, so a neighbour a little
    lower, or larger, does not start a row of its own."""
    rows: list[list[FoundCode]] = []
    for code in sorted(codes, key=lambda c: (c.position.top + c.position.bottom, c.position.left)):
        if rows and _side_by_side(rows[-1][0].position, code.position):
            rows[-1].append(code)
        else:
            rows.append([code])
    return [code for row in rows for code in sorted(row, key=lambda c: c.position.left)]


def describe_codes(codes: list[FoundCode], *, reveal_wifi_password: bool = False) -> str | None:
    """Sentences saying what each code holds, answer first; None when there are none."""
    if not codes:
        return None
    if len(codes) == 1:
        return f"There is {_described(codes[0], reveal_wifi_password)}"
    parts = [f"There are {len(codes)} codes."]
    for ordinal, code in zip(_ORDINALS[:MAX_CODES_SPOKEN], codes, strict=False):
        parts.append(f"The {ordinal} is {_described(code, reveal_wifi_password)}")
    if len(codes) > MAX_CODES_SPOKEN:
        parts.append(f"I did not read out the other {len(codes) - MAX_CODES_SPOKEN}.")
    return " ".join(parts)


def spoken_link(url: str) -> str | None:
    """An http(s) link as host and path ("example.org/menu"), or None when `url` is not one.

    The scheme, "www.", a login, the query and the fragment are left out: read aloud they are
    noise, and the query often holds tracking codes or tokens. The path says where it goes.
    """
    url = url.strip()
    if any(space in url for space in " \t\n"):
        return None  # a sentence that holds a link is text, and is read out as such
    if url.lower().startswith("www."):
        url = f"https://{url}"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    host = host.removeprefix("www.")
    if port is not None and port not in (80, 443):
        host = f"{host}:{port}"
    return host + unquote(parts.path).rstrip("/")


def spoken_digits(code: FoundCode) -> str:
    """A retail code's digits grouped as printed ("4 006381 333931"); other texts unchanged."""
    groups = _DIGIT_GROUPS.get(code.format)
    if groups is None or not code.text.isdigit() or len(code.text) != sum(groups):
        return code.text
    bounds = [0, *itertools.accumulate(groups)]
    return " ".join(code.text[a:b] for a, b in itertools.pairwise(bounds))


def code_format(fmt: object) -> CodeFormat:
    """The bot's name for a zxing-cpp format, whichever version named it ("QRCode", "QR Code",
    "BarcodeFormat.QRCode"); a symbology outside `SCANNED_FORMATS` is `CodeFormat.OTHER`."""
    name = str(getattr(fmt, "name", None) or fmt).rsplit(".", 1)[-1]
    return _FORMATS.get(re.sub(r"[^0-9a-z]", "", name.lower()), CodeFormat.OTHER)


def _side_by_side(a: Box, b: Box) -> bool:
    overlap = min(a.bottom, b.bottom) - max(a.top, b.top)
    return overlap >= min(a.bottom - a.top, b.bottom - b.top) / 2


def _read(image: Image.Image, **options: bool) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(image, formats=SCANNED_FORMATS, **options)


def _box(result: zxingcpp.Barcode, factor: int, left: int, top: int) -> Box:
    pos = result.position
    xs = [p.x for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
    ys = [p.y for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
    # A 1D code's position is a line through its bars; +1 gives every box some area.
    return Box(
        left + min(xs) * factor,
        top + min(ys) * factor,
        left + (max(xs) + 1) * factor,
        top + (max(ys) + 1) * factor,
    )


def _found(result: zxingcpp.Barcode, factor: int, left: int, top: int) -> FoundCode:
    fmt = code_format(result.format)
    text = result.text
    if fmt is CodeFormat.EAN13 and len(text) == 13 and text.startswith("0"):
        # The same bars as a UPC-A; zxing-cpp 3 reports UPC-A this way, and the label prints 12 digits.
        fmt, text = CodeFormat.UPCA, text[1:]
    elif fmt is CodeFormat.UPCA and len(text) == 13 and text.startswith("0"):
        text = text[1:]
    elif fmt is CodeFormat.UPCE:
        text = (getattr(result, "extra", None) or {}).get("UPCE", text)  # 3.x: the 13-digit expansion
    binary = getattr(getattr(result, "content_type", None), "name", "") == "Binary"
    return FoundCode(fmt, text, _box(result, factor, left, top), binary)


def _distinct(codes: list[FoundCode]) -> list[FoundCode]:
    """One entry per physical code: the passes find a code again at another scale, and a tilted
    1D code is sometimes misread on a few scan lines (with a valid check digit): overlapping
    reads are one code, and the read with the larger box, agreed on by more lines, stands."""
    kept: list[FoundCode] = []
    for code in sorted(codes, key=lambda c: -_area(c.position)):
        if not any(k.position.overlaps(code.position) for k in kept):
            kept.append(code)
    return kept


def _area(box: Box) -> int:
    return (box.right - box.left) * (box.bottom - box.top)


def _described(code: FoundCode, reveal_wifi_password: bool) -> str:
    """The words after "There is" or "The first is": "a barcode: 4 006381 333931." and kin."""
    if code.format in _BARCODES:
        return f"a barcode: {_cleaned(spoken_digits(code))}."
    noun = f"a {code.format}"
    text = code.text.strip()
    if code.binary:
        return f"{noun}. It holds data that is not text."
    if not text:
        return f"{noun}. It is empty."
    if text.upper().startswith("WIFI:"):
        return f"{noun} {_wifi(text[5:], reveal_wifi_password)}"
    link = spoken_link(text)
    if link is not None:
        return f"{noun}. It links to {link}."
    return f"{noun}. {_payload(text)}"


def _wifi(body: str, reveal_password: bool) -> str:
    """WIFI:S:name;T:WPA;P:secret;; fields in any order, with backslash escapes."""
    fields = {
        key.upper(): re.sub(r"\\(.)", r"\1", value)
        for key, value in re.findall(r"([A-Za-z]):((?:\\.|[^;\\])*)", body)
    }
    name = _cleaned(fields.get("S", "").strip('"'))
    said = f'for the Wi-Fi network "{name}".' if name else "for a Wi-Fi network with no name."
    password = fields.get("P", "")
    if not password or fields.get("T", "").lower() == "nopass":
        return f"{said} It has no password."
    if reveal_password:
        return f"{said} The password is: {password}."
    return f"{said} It also holds the password, which I did not read out."


def _payload(text: str) -> str:
    """What a QR, Data Matrix or PDF417 code holds, past the noun: "It says: ..." and kin."""
    lower = text.lower()
    if lower.startswith("mailto:"):
        return f"It has the email address {_cleaned(unquote(text[7:].split('?', 1)[0]))}."
    if lower.startswith("tel:"):
        return f"It has the phone number {_cleaned(text[4:])}."
    if lower.startswith("otpauth:"):
        # Two-step sign-in setup: the secret must never be read out, and the label says whose it is.
        label = _cleaned(unquote(urlsplit(text).path.strip("/")))
        return (
            f"It sets up sign-in codes for {label}." if label else "It sets up sign-in codes for an account."
        )
    name = None
    if lower.startswith("begin:vcard"):
        name = re.search(r"^FN[^:\n]*:(.+)$", text, re.MULTILINE)
    elif lower.startswith("mecard:"):
        name = re.search(r"\bN:([^;]+)", text)
    if name is not None:
        # MECARD writes "N:Doe,John"; said the way a person would: John Doe.
        parts = name.group(1).split(",") if lower.startswith("mecard:") else [name.group(1)]
        return f"It is a contact card for {_cleaned(' '.join(reversed(parts)))}."
    said = _cleaned(text)
    if len(said) <= MAX_SPOKEN_CHARS:
        return f"It says: {said}" + ("" if said.endswith((".", "!", "?")) else ".")
    cut = said[:MAX_SPOKEN_CHARS].rsplit(" ", 1)[0]
    return f"It begins: {cut}. It holds more text than that."


def _cleaned(text: str) -> str:
    """Control characters (line breaks, GS1 separators) as spaces, and runs of spaces as one."""
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", text)).strip()
