"""The key/value work around `generate`: reading shared tokens once before it, keeping prefixes after.

Beam search would read each prompt once per beam, and the rows of a description would each read
their photo's image queries: reading those tokens here, once, and handing `generate` the cache (or
keeping it as the photo's `Prefix`) does the same arithmetic once. Positions come from the
attention mask as `generate` makes them, so every token gets the states `generate` would give it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

from inference.generation import Generated, beam_width
from inference.kv_prefix import BatchLayout, Prefix, extract_prefixes
from inference.types import GenerationOptions


def prefill(
    language_model: Any,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    cache: DynamicCache | None,
    start: int = 0,
    stop: int | None = None,
) -> DynamicCache:
    """Read columns `start:stop` of a left-padded batch into `cache` (a new one when None), and return it.

    The cache must already hold columns `:start`. Only the last position's logits are computed:
    the caller wants the states, not a prediction. Call under `torch.inference_mode`.
    """
    stop = embeds.shape[1] if stop is None else stop
    cache = cache if cache is not None else DynamicCache(config=language_model.config)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    language_model(
        inputs_embeds=embeds[:, start:stop],
        attention_mask=mask[:, :stop],
        position_ids=positions[:, start:stop],
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return cache


def read_prompts_once(
    language_model: Any,
    layout: BatchLayout,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    cache: DynamicCache | None,
) -> DynamicCache | None:
    """Read every prompt token but the last into the cache (past the reused block), once per request.

    Beam search copies each prompt `num_beams` times before reading it; reading it first and
    copying the states does the same arithmetic once. `generate` then reads the last token,
    per beam, for the first logits.
    """
    start, stop = layout.past_columns, layout.width - 1
    if stop <= start:
        return cache
    return prefill(language_model, embeds, mask, cache, start, stop)


def generated_prefixes(
    output: Any, options: GenerationOptions, layout: BatchLayout, generated: Sequence[Generated]
) -> list[Prefix]:
    """Each request's prefix from `generate`'s cache: its prompt, and with one beam its answer too.

    Empty when `generate` returned no cache. Raises ValueError when the cache is shorter than the
    layout says (the caller only loses the chance to reuse it).
    """
    cache = getattr(output, "cache", None)
    if cache is None:
        return []
    beams = beam_width(options)
    if beams == 1:
        # The cache holds every generated token but the last one; keep the answer up to its end.
        steps = output.sequences.shape[1] - layout.width
        appended = [g.token_ids[: max(0, steps - 1)] for g in generated]
    else:
        # Beam search reorders its cache by beam; only the prompt, the same in every beam, is kept.
        appended = [[] for _ in generated]
    cache_rows = [i * beams for i in range(len(generated))]
    return extract_prefixes(cache, layout, cache_rows, appended)
