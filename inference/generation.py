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


def read_generation(output: Any, eos_token_ids: Iterable[int]) -> list[Generated]:
    """Split `generate`'s output into each request's new tokens and their mean log-probability.

    Works for prompt-echoing decoders (OPT, BLIP) and encoder-decoders (T5) alike: the new tokens
    are the last columns of `sequences`, as many as `transition_log_probs` has steps. Tokens from
    the first end-of-sequence on are padding; the end-of-sequence itself is not counted.
    """
    beam_indices = getattr(output, "beam_indices", None)
    scores = transition_log_probs(output.sequences, output.scores, beam_indices)
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


def transition_log_probs(
    sequences: torch.Tensor, scores: Sequence[torch.Tensor], beam_indices: torch.Tensor | None
) -> torch.Tensor:
    """Each returned sequence's log-probability of each new token, 0 where its beam had ended.

    The values of `transformers`' `compute_transition_scores(..., normalize_logits=True)`, which
    normalises every beam's scores over the whole vocabulary at every step and then picks the
    returned beams' rows. Picking first and normalising only those rows gives the same numbers
    (a row's normalisation depends on that row alone) for a fifth of the work with 5 beams; the
    other way, it took a tenth of a busy CPU decode's time. The stored scores are processed
    logits (greedy, sampling) or processed log-probs (beams): renormalising gives log-probabilities
    in both cases.
    """
    if beam_indices is None:  # one sequence per row: step t's row i is the sequence's own
        rows = torch.arange(sequences.shape[0], device=scores[0].device)
        beam_indices = rows[:, None].expand(-1, len(scores))
    ended = beam_indices < 0
    steps = int((~ended).sum(dim=-1).max())
    ended = ended[:, :steps]
    picked = beam_indices[:, :steps].clamp(min=0).to(scores[0].device)
    tokens = sequences[:, sequences.shape[1] - steps :].to(scores[0].device)
    columns = []
    for step in range(steps):
        rows = scores[step].index_select(0, picked[:, step]).float()  # half precision loses the sum
        chosen = rows.gather(1, tokens[:, step : step + 1])[:, 0]
        columns.append(chosen - torch.logsumexp(rows, dim=-1))
    log_probs = torch.stack(columns, dim=1) if columns else scores[0].new_zeros((sequences.shape[0], 0))
    return log_probs.masked_fill(ended.to(log_probs.device), 0.0)


def eos_ids(generation_config: Any) -> set[int]:
    """The end-of-sequence ids a generation config stops at, as a set (configs allow int or list)."""
    eos = generation_config.eos_token_id
    if eos is None:
        return set()
    return {eos} if isinstance(eos, int) else set(eos)
