from __future__ import annotations

from dataclasses import dataclass

import pytest

from inference.prompts import NO_ANSWER, caption_prompt, clean_answer, question_prompt


@dataclass(frozen=True)
class PastTurn:
    question: str
    answer: str


def words(text: str) -> int:
    return len(text.split())


def test_caption_prompt_is_empty_or_the_prefix() -> None:
    assert caption_prompt() == ""
    assert caption_prompt("  a photo of ") == "a photo of"


def test_question_without_history() -> None:
    prompt = question_prompt("what is this?", [], count_tokens=words, budget_tokens=100)

    assert prompt == "Question: what is this? Answer:"


def test_history_comes_first_oldest_first_each_answer_ending_once() -> None:
    history = [
        PastTurn("what is it?", "a dog"),
        PastTurn("what colour?", "brown."),
        PastTurn("is it happy?", "yes!"),
    ]

    prompt = question_prompt("where is it?", history, count_tokens=words, budget_tokens=100)

    assert prompt == (
        "Question: what is it? Answer: a dog. "
        "Question: what colour? Answer: brown. "
        "Question: is it happy? Answer: yes! "
        "Question: where is it? Answer:"
    )


def test_unanswered_turns_are_left_out() -> None:
    history = [PastTurn("what is it?", NO_ANSWER), PastTurn("what colour?", " ")]

    prompt = question_prompt("where?", history, count_tokens=words, budget_tokens=100)

    assert prompt == "Question: where? Answer:"


def test_over_budget_drops_the_oldest_turns_first() -> None:
    history = [PastTurn("one?", "first"), PastTurn("two?", "second"), PastTurn("three?", "third")]
    # Each turn is 4 words, the current question 3: room for two turns.
    prompt = question_prompt("four?", history, count_tokens=words, budget_tokens=11)

    assert prompt == "Question: two? Answer: second. Question: three? Answer: third. Question: four? Answer:"


def test_the_budget_is_measured_with_the_given_counter() -> None:
    calls: list[str] = []

    def counting(text: str) -> int:
        calls.append(text)
        return len(text)

    prompt = question_prompt("why?", [PastTurn("what?", "a cat")], count_tokens=counting, budget_tokens=25)

    assert prompt == "Question: why? Answer:"
    assert calls[-1].startswith("Question: what?")


def test_the_current_question_is_never_cut() -> None:
    question = "what does the long sign above the door of the old bakery say?"
    history = [PastTurn("what is it?", "a shop")]

    prompt = question_prompt(question, history, count_tokens=words, budget_tokens=3)

    assert prompt == f"Question: {question} Answer:"


@pytest.mark.parametrize(
    ("text", "prompt", "expected"),
    [
        ("  a dog on the grass  ", "", "a dog on the grass"),
        ("a dog\non the grass", "", "a dog"),
        ("\n a dog\nsecond line", "", "a dog"),
        ("Question: what is it? Answer: a dog", "Question: what is it? Answer:", "a dog"),
        ("a photo of a dog", "a photo of", "a dog"),
        ("a dog", "Question: what is it? Answer:", "a dog"),
        ("", "", NO_ANSWER),
        ("   \n  ", "", NO_ANSWER),
        ("Question: what? Answer:", "Question: what? Answer:", NO_ANSWER),
    ],
)
def test_clean_answer(text: str, prompt: str, expected: str) -> None:
    assert clean_answer(text, prompt) == expected


def test_clean_answer_drops_control_characters_and_broken_bytes():
    assert clean_answer("a\u000b red\u0006 door\ufffd  with\u200b a  knob") == "a red door with a knob"
    assert clean_answer("\u0006\ufffd") == NO_ANSWER
