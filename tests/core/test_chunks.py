import pytest

from bot.core.chunks import split_text


def test_short_text_is_one_piece():
    assert split_text("  A red door.  ", 100) == ["A red door."]


def test_long_text_is_cut_at_sentence_ends_and_nothing_is_lost():
    text = " ".join(f"Sentence number {n} is here." for n in range(200))
    pieces = split_text(text, 100)
    assert all(len(p) <= 100 for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text


def test_paragraphs_are_preferred_over_sentences():
    assert split_text("First part. Still first.\n\nSecond part.", 30) == [
        "First part. Still first.",
        "Second part.",
    ]


def test_a_word_longer_than_the_limit_is_cut_inside():
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        split_text("a", 0)
