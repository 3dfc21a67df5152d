"""Every prompt the bot sends to a model, and the cleaning of what comes back.

Pure functions over strings, no torch: the token counter is passed in, so the same code serves any
tokenizer, and tests use a word counter. BLIP-2's VQA format is `Question: {q} Answer:`, earlier
turns of a conversation go in front as `Question: {q} Answer: {a}.`, oldest dropped first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Protocol

#: What the user hears when the model produced nothing readable.
NO_ANSWER = "I could not make out an answer."

_SENTENCE_ENDS = (".", "!", "?")


class PriorExchange(Protocol):
    """One earlier question and its answer (storage's rows fit this without inference importing them)."""

    @property
    def question(self) -> str: ...

    @property
    def answer(self) -> str: ...


def caption_prompt(prefix: str = "") -> str:
    """The prompt for a description: nothing, or a configured prefix such as "a photo of"."""
    return prefix.strip()


def question_prompt(
    question: str,
    history: Sequence[PriorExchange],
    *,
    count_tokens: Callable[[str], int],
    budget_tokens: int,
) -> str:
    """The prompt for `question`, with as many of the latest earlier turns as fit in `budget_tokens`.

    `history` runs oldest first, and the oldest turns are dropped first. The current question is
    never cut: if it alone is over the budget it is returned alone (the engine keeps the model
    within its own length limit).
    """
    current = f"Question: {question.strip()} Answer:"
    # A turn the model could not answer tells it nothing, so it does not spend the budget.
    turns = [_turn(exchange) for exchange in history if exchange.answer.strip() not in ("", NO_ANSWER)]
    for first_kept in range(len(turns)):
        prompt = " ".join([*turns[first_kept:], current])
        if count_tokens(prompt) <= budget_tokens:
            return prompt
    return current


def _turn(exchange: PriorExchange) -> str:
    answer = exchange.answer.strip()
    if not answer.endswith(_SENTENCE_ENDS):
        answer += "."
    return f"Question: {exchange.question.strip()} Answer: {answer}"


def clean_answer(text: str, prompt: str = "") -> str:
    """Tidy decoded model output: drop an echoed prompt, keep the first line, trim; never empty."""
    text = text.strip()
    prompt = prompt.strip()
    if prompt and text.startswith(prompt):
        text = text[len(prompt) :].lstrip()
    text = text.split("\n", 1)[0]
    # Control characters (and the replacement character of broken byte sequences) are read out
    # as noise by screen readers, or not at all: drop them.
    text = "".join(ch for ch in text if ch != "\ufffd" and unicodedata.category(ch) not in ("Cc", "Cf"))
    return " ".join(text.split()) or NO_ANSWER


#: The fixed follow-ups a "normal" description asks in the same batch as the caption, keyed by
#: what the answer tells: what people who cannot see the photo ask first (Be My AI, Seeing AI).
DETAIL_QUESTIONS: dict[str, str] = {
    "people": "How many people are in the picture?",
    "setting": "Where was this picture taken?",
    "objects": "What are the main objects and their colors?",
    "text": "Is there any writing in the picture?",
}


def detail_prompts() -> dict[str, str]:
    """One `Question: ... Answer:` prompt for each detail question (no history: fresh facts)."""
    return {key: f"Question: {question} Answer:" for key, question in DETAIL_QUESTIONS.items()}
