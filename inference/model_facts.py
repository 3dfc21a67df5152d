"""What a front end needs to know about the model without loading its weights.

A front end of a scaled-out deployment builds prompts (with the history cut to the model's
budget) but never generates: it reads the checkpoint's config and tokenizer, a few megabytes,
instead of the gigabytes of weights the workers load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference.blip2 import ANSWER_HEADROOM_TOKENS, PROMPT_BUDGET_CAP_TOKENS, T5_MAX_POSITIONS
from inference.loading import ModelLoadError, load_processor, read_config


@dataclass(frozen=True, slots=True)
class TokenizerFacts:
    """`ModelFacts` from a checkpoint's config and tokenizer alone (the same numbers the engines use)."""

    name: str
    can_answer_questions: bool
    tokenizer: Any
    budget_tokens: int

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def prompt_budget_tokens(self) -> int:
        return self.budget_tokens


def load_model_facts(model: str) -> TokenizerFacts:
    """Read `model`'s config and tokenizer (hub id or directory); raises `ModelLoadError`."""
    config = read_config(model)
    if config.model_type not in ("blip-2", "blip"):
        raise ModelLoadError(
            f"{model!r} is a {config.model_type!r} model; blipbot runs BLIP-2 and BLIP models"
        )
    tokenizer = load_processor(model).tokenizer
    if config.model_type == "blip":
        return TokenizerFacts(model, False, tokenizer, PROMPT_BUDGET_CAP_TOKENS)
    max_positions = getattr(config.text_config, "max_position_embeddings", None) or T5_MAX_POSITIONS
    room = max_positions - config.num_query_tokens - ANSWER_HEADROOM_TOKENS - 2
    return TokenizerFacts(model, True, tokenizer, max(1, min(PROMPT_BUDGET_CAP_TOKENS, room)))
