"""Codes in photos: real symbols made with zxing-cpp, laid into photo-like scenes, read and worded."""

import io
import statistics
import time

import pytest
import zxingcpp
from PIL import Image

from bot.core.codes import (
    Box,
    CodeFormat,
    FoundCode,
    code_format,
    describe_codes,
    in_reading_order,
    scan_codes,
    spoken_link,
)
from bot.core.colours import main_colours
from bot.core.images import for_model
from bot.core.light import assess_light, light_hint
from tests.fakes.codes import scene, symbol
from tests.fakes.photos import encode

F = zxingcpp.BarcodeFormat


def photographed(image: Image.Image, degrees: float = 0) -> Image.Image:
    """Turned a little, as a hand holds a phone, and through a JPEG, as a phone saves it."""
    if degrees:
        image = image.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(120, 110, 100))
    return Image.open(io.BytesIO(encode(image, "JPEG", quality=88))).convert("RGB")


def with_codes(*placed: tuple[Image.Image, tuple[int, int]], size=(1600, 1200), degrees: float = 0):
    image = scene(*size)
    for code, where in placed:
        image.paste(code, where)
    return photographed(image, degrees)


@pytest.mark.parametrize(
    ("fmt", "text", "expected_format", "expected_text"),
    [
        (F.QRCode, "https://example.org/menu", CodeFormat.QR, "https://example.org/menu"),
        (F.EAN13, "4006381333931", CodeFormat.EAN13, "4006381333931"),
        (F.EAN8, "96385074", CodeFormat.EAN8, "96385074"),
        # zxing-cpp 3 reports a UPC-A as an EAN-13 with a leading 0, and a UPC-E by its 13-digit
        # expansion: the bot says the digits printed under the bars.
        (F.UPCA, "036000291452", CodeFormat.UPCA, "036000291452"),
        (F.UPCE, "01234565", CodeFormat.UPCE, "01234565"),
        (F.Code128, "Order 1234-AB", CodeFormat.CODE128, "Order 1234-AB"),
        (F.Code39, "SHELF-42", CodeFormat.CODE39, "SHELF-42"),
        (F.DataMatrix, "Batch 7 expires 2027", CodeFormat.DATA_MATRIX, "Batch 7 expires 2027"),
        (F.PDF417, "Boarding pass LHR to GVA", CodeFormat.PDF417, "Boarding pass LHR to GVA"),
    ],
)
def test_each_kind_of_code_is_found_in_a_tilted_photo(fmt, text, expected_format, expected_text):
    # zxing-cpp cannot read a PDF417 turned much past 5 degrees, at any size.
    photo = with_codes((symbol(text, fmt), (500, 400)), degrees=3 if fmt == F.PDF417 else 7)
    [code] = scan_codes(photo)
    assert (code.format, code.text) == (expected_format, expected_text)
    assert 300 < code.position.left < code.position.right < 1300
    assert 200 < code.position.top < code.position.bottom < 1000


def test_light_on_dark_codes_are_read_when_thorough():
    inverted = Image.eval(symbol("https://example.org/tickets", F.QRCode, 6), lambda v: 255 - v)
    photo = with_codes((inverted, (600, 300)))
    assert scan_codes(photo) == [], "the fast pass leaves inverted codes out (a second pass)"
    [code] = scan_codes(photo, thorough=True)
    assert code.text == "https://example.org/tickets"


def test_a_photo_without_codes_has_none():
    assert scan_codes(scene()) == []
    assert scan_codes(Image.new("RGB", (640, 480), (30, 30, 30))) == []


def test_several_codes_come_in_reading_order():
    photo = with_codes(
        (symbol("https://example.org/2", F.QRCode, 5), (1100, 180)),  # right of 1, a little lower
        (symbol("https://example.org/1", F.QRCode, 5), (150, 120)),
        (symbol("https://example.org/4", F.QRCode, 5), (1000, 700)),
        (symbol("4006381333931", F.EAN13, 3), (200, 740)),  # left of 4, a little lower: before it
    )
    assert [c.text for c in scan_codes(photo)] == [
        "https://example.org/1",
        "https://example.org/2",
        "4006381333931",
        "https://example.org/4",
    ]


def test_reading_order_takes_rows_then_left_to_right():
    def at(text, left, top, size=100):
        return FoundCode(CodeFormat.QR, text, Box(left, top, left + size, top + size))

    codes = [at("d", 500, 520), at("b", 600, 30), at("a", 100, 0), at("c", 50, 480)]
    assert [c.text for c in in_reading_order(codes)] == ["a", "b", "c", "d"]


def test_a_12_megapixel_photo_is_read_and_small_codes_are_found_when_thorough():
    big = scene(4000, 3000, seed=3)
    big.paste(symbol("https://example.org/big", F.QRCode, 10), (600, 500))
    big.paste(symbol("https://example.org/tiny", F.QRCode, 2), (3000, 2200))  # 66 px of 4000
    photo = photographed(big, degrees=4)
    assert [c.text for c in scan_codes(photo)][:1] == ["https://example.org/big"]
    thorough = scan_codes(photo, thorough=True)
    assert [c.text for c in thorough] == ["https://example.org/big", "https://example.org/tiny"]
    assert thorough[1].position.left > 2900 and thorough[1].position.top > 2100, "in the photo's pixels"


def test_a_barcode_too_fine_for_the_reduced_copy_is_read_again_at_full_size():
    big = scene(4000, 3000, seed=5)
    big.paste(symbol("4006381333931", F.EAN13, 2), (1800, 1400))  # 1 px a bar at half size
    photo = photographed(big, degrees=8)
    at_half_size = zxingcpp.read_barcodes(photo.reduce(2), return_errors=True)
    assert at_half_size and not any(r.valid for r in at_half_size), "premise: seen but not decoded"
    [code] = scan_codes(photo)
    assert (code.format, code.text) == (CodeFormat.EAN13, "4006381333931")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("QRCode", CodeFormat.QR),  # zxing-cpp 2 (.name) and 3 (.name)
        ("QR Code", CodeFormat.QR),  # zxing-cpp 3 (str)
        ("BarcodeFormat.QRCode", CodeFormat.QR),  # zxing-cpp 1 and 2 (str)
        ("EAN-13", CodeFormat.EAN13),
        ("UPCA", CodeFormat.UPCA),
        ("Code39Std", CodeFormat.CODE39),
        ("Data Matrix", CodeFormat.DATA_MATRIX),
        ("Aztec", CodeFormat.OTHER),
    ],
)
def test_zxing_format_names_of_every_version_are_understood(name, expected):
    assert code_format(name) is expected


def test_the_installed_zxing_formats_are_understood():
    assert code_format(F.QRCode) is CodeFormat.QR
    assert code_format(F.PDF417) is CodeFormat.PDF417


def found(text: str, fmt: CodeFormat = CodeFormat.QR, *, binary: bool = False) -> FoundCode:
    return FoundCode(fmt, text, Box(0, 0, 10, 10), binary)


@pytest.mark.parametrize(
    ("url", "spoken"),
    [
        ("https://example.org/menu", "example.org/menu"),
        ("http://www.Example.org/menu/", "example.org/menu"),
        ("https://example.org/menu?table=12&utm_source=qr#top", "example.org/menu"),
        ("https://user:secret@example.org:8443/a%20b", "example.org:8443/a b"),
        ("https://example.org", "example.org"),
        ("www.example.org/wifi", "example.org/wifi"),
        ("ftp://example.org/file", None),
        ("see https://example.org", None),
        ("hello", None),
    ],
)
def test_links_are_said_as_host_and_path(url, spoken):
    assert spoken_link(url) == spoken


def test_a_link_is_said_first_in_plain_words():
    assert describe_codes([found("https://www.example.org/menu?session=abc")]) == (
        "There is a QR code. It links to example.org/menu."
    )


@pytest.mark.parametrize(
    ("fmt", "digits", "said"),
    [
        (CodeFormat.EAN13, "4006381333931", "There is a barcode: 4 006381 333931."),
        (CodeFormat.UPCA, "036000291452", "There is a barcode: 0 36000 29145 2."),
        (CodeFormat.EAN8, "96385074", "There is a barcode: 9638 5074."),
        (CodeFormat.UPCE, "01234565", "There is a barcode: 0 123456 5."),
        (CodeFormat.CODE128, "Order 1234-AB", "There is a barcode: Order 1234-AB."),
    ],
)
def test_barcodes_are_grouped_as_printed(fmt, digits, said):
    assert describe_codes([found(digits, fmt)]) == said


def test_a_wifi_code_names_the_network_and_keeps_the_password_unless_asked():
    wifi = found("WIFI:S:Cafe Blue;T:WPA;P:pa55word;;")
    said = describe_codes([wifi])
    assert said == (
        'There is a QR code for the Wi-Fi network "Cafe Blue". '
        "It also holds the password, which I did not read out."
    )
    assert "pa55word" not in said
    assert describe_codes([wifi], reveal_wifi_password=True) == (
        'There is a QR code for the Wi-Fi network "Cafe Blue". The password is: pa55word.'
    )


def test_wifi_fields_come_in_any_order_with_escapes_and_open_networks_say_so():
    said = describe_codes([found(r"WIFI:T:WPA;P:a\;b;S:Home\;Net;H:false;;")], reveal_wifi_password=True)
    assert said == 'There is a QR code for the Wi-Fi network "Home;Net". The password is: a;b.'
    assert describe_codes([found("WIFI:S:Library;T:nopass;P:;;")]) == (
        'There is a QR code for the Wi-Fi network "Library". It has no password.'
    )


def test_a_wifi_code_read_from_a_photo_keeps_its_password():
    photo = with_codes((symbol("WIFI:S:Guest;T:WPA;P:hunter22;;", F.QRCode, 6), (400, 300)))
    said = describe_codes(scan_codes(photo))
    assert said is not None and '"Guest"' in said and "hunter22" not in said


def test_texts_and_other_payloads_are_said_plainly():
    assert describe_codes([found("Table 12")]) == "There is a QR code. It says: Table 12."
    assert describe_codes([found("Line one\r\nLine two.", CodeFormat.DATA_MATRIX)]) == (
        "There is a Data Matrix code. It says: Line one Line two."
    )
    assert describe_codes([found("mailto:desk@example.org?subject=Hi")]) == (
        "There is a QR code. It has the email address desk@example.org."
    )
    assert describe_codes([found("tel:+44 20 7946 0000")]) == (
        "There is a QR code. It has the phone number +44 20 7946 0000."
    )
    assert describe_codes([found("BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nEND:VCARD")]) == (
        "There is a QR code. It is a contact card for Ada Lovelace."
    )
    assert describe_codes([found("MECARD:N:Lovelace,Ada;TEL:123;;")]) == (
        "There is a QR code. It is a contact card for Ada Lovelace."
    )
    assert describe_codes([found("", CodeFormat.QR)]) == "There is a QR code. It is empty."
    assert describe_codes([found("\x00\x01", binary=True)]) == (
        "There is a QR code. It holds data that is not text."
    )


def test_a_sign_in_secret_is_never_read_out():
    said = describe_codes([found("otpauth://totp/Example:ada@example.org?secret=JBSWY3DPEHPK3PXP")])
    assert said == "There is a QR code. It sets up sign-in codes for Example:ada@example.org."
    assert "JBSWY3DP" not in said


def test_a_long_text_is_cut_at_a_word_and_says_so():
    said = describe_codes([found("word " * 200, CodeFormat.PDF417)])
    assert said.startswith("There is a PDF417 code. It begins: word word")
    assert said.endswith("word. It holds more text than that.")
    assert len(said) < 400


def test_several_codes_are_counted_then_each_read_in_order():
    codes = [found("https://example.org/menu"), found("4006381333931", CodeFormat.EAN13)]
    assert describe_codes(codes) == (
        "There are 2 codes. The first is a QR code. It links to example.org/menu. "
        "The second is a barcode: 4 006381 333931."
    )


def test_many_codes_are_capped():
    said = describe_codes([found(f"Seat {n}") for n in range(12)])
    assert said.startswith("There are 12 codes. The first is a QR code. It says: Seat 0.")
    assert "The tenth is a QR code. It says: Seat 9." in said
    assert said.endswith("I did not read out the other 2.")


def test_no_codes_says_nothing():
    assert describe_codes([]) is None


def every_photo_checks_ms(repeats: int = 7) -> dict[str, float]:
    """Median milliseconds of the checks issue 17 runs on every photo (and of /colour), on a 12 MP
    photo with a QR code, and of the light check on the copy prepared for the model. Issue 17 asks
    for codes and light under 50 ms together; timing is not asserted in tests (shared machines):
    print it with `python -m tests.core.test_codes`."""
    photo = scene(4000, 3000, seed=7)
    photo.paste(symbol("https://example.org/menu", F.QRCode, 12), (1500, 1000))
    photo = photographed(photo, degrees=3)
    model_copy = for_model(photo)
    checks = {
        "scan_codes, 12 MP": lambda: scan_codes(photo),
        "assess_light, 12 MP": lambda: assess_light(photo),
        f"assess_light, model copy {model_copy.width}x{model_copy.height}": lambda: assess_light(model_copy),
        "main_colours, 12 MP": lambda: main_colours(photo),
    }
    times: dict[str, list[float]] = {name: [] for name in checks}
    for _ in range(repeats + 1):  # the first round warms up
        for name, check in checks.items():
            started = time.perf_counter()
            check()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values[1:] or values) for name, values in times.items()}


def test_the_checks_on_every_photo_run_on_a_12_megapixel_photo():
    photo = scene(4000, 3000, seed=7)
    photo.paste(symbol("https://example.org/menu", F.QRCode, 12), (1500, 1000))
    photo = photographed(photo, degrees=3)
    assert [c.text for c in scan_codes(photo)] == ["https://example.org/menu"]
    assert light_hint(assess_light(photo)) is None
    assert light_hint(assess_light(for_model(photo))) is None
    assert len(every_photo_checks_ms(repeats=1)) == 4


if __name__ == "__main__":
    for check, ms in every_photo_checks_ms().items():
        print(f"{check}: {ms:.1f} ms")
