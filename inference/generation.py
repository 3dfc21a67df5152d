"""What the BLIP-2 and BLIP engines share around `generate`: its options, its output, its dtypes.

Both engines call `transformers`' `generate` with one `GenerationOptions` per batch and read the
new tokens and their scores back the same way; these helpers are that common part.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from inference.types import GenerationOptions, GenerationRequest


@dataclass(frozen=True, slots=True)
class Generated:
    """The tokens one request produced (prompt, padding and end-of-sequence removed), and their score."""

    token_ids: list[int]
    mean_logprob: float | None


def shared_options(requests: Sequence[GenerationRequest]) -> GenerationOptions:
    """The options every request in a batch shares; one `generate` call cannot mix them."""
    options = requests[0].options
    if any(request.options != options for request in requests):
        raise ValueError("all requests in one batch must share the same GenerationOptions")
    return options


def beam_width(options: GenerationOptions) -> int:
    """Sequences `generate` keeps per request: one when sampling, `num_beams` otherwise."""
    return 1 if options.use_nucleus_sampling else options.num_beams


def pixel_dtype(model: Any) -> torch.dtype:
    """The dtype of the vision tower's weights, which the pixel values must be cast to."""
    return model.vision_model.embeddings.patch_embedding.weight.dtype


def read_generation(language_model: Any, output: Any, eos_token_ids: Iterable[int]) -> list[Generated]:
    """Split `generate`'s output into each request's new tokens and their mean log-probability.

    Works for prompt-echoing decoders (OPT, BLIP) and encoder-decoders (T5) alike: the new tokens
    are the last columns of `sequences`, as many as `compute_transition_scores` has steps. Tokens
    from the first end-of-sequence on are padding; the end-of-sequence itself is not counted.
    """
    beam_indices = getattr(output, "beam_indices", None)
    # The stored scores are processed logits (greedy, sampling) or processed log-probs (beams):
    # renormalising gives log-probabilities in both cases.
    scores = language_model.compute_transition_scores(
        output.sequences, output.scores, beam_indices, normalize_logits=True
    )
    steps = scores.shape[1]
    tokens = output.sequences[:, output.sequences.shape[1] - steps :]
    eos = torch.tensor(sorted(eos_token_ids), dtype=tokens.dtype, device=tokens.device)
    is_eos = torch.isin(tokens, eos)
    kept = is_eos.cumsum(dim=1) == 0
    if beam_indices is not None:
        kept &= beam_indices[:, :steps].to(kept.device) >= 0
    results = []
    for row_tokens, row_scores, row_kept in zip(tokens, scores, kept, strict=True):
        count = int(row_kept.sum())
        mean = float(row_scores[row_kept].float().mean()) if count else None
        results.append(Generated(row_tokens[row_kept].tolist(), mean))
    return results


def eos_ids(generation_config: Any) -> set[int]:
    """The end-of-sequence ids a generation config stops at, as a set (configs allow int or list)."""
    eos = generation_config.eos_token_id
    if eos is None:
        return set()
    return {eos} if isinstance(eos, int) else set(eos)
