"""One batch's beam search, held between steps: what `GenerationMixin._beam_search` keeps in locals.

A *cohort* is one `generate` call's requests, prepared by `transformers` itself through
`custom_generate` (config, logits processors, stopping criteria, expanded inputs, prefilled
cache), whose beam search state is updated call for call by `_beam_search`'s own helper methods.
`joint_decode.JointDecoder` runs the forward pass of many cohorts at once; this module is one
cohort's part: its first step, its update from each step's logits, and its output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import DynamicCache
from transformers.generation.utils import GenerateBeamDecoderOnlyOutput


@dataclass(eq=False)
class Cohort:
    """One `generate` call's beam search, held between steps (the state `_beam_search` keeps in locals)."""

    model: Any
    input_ids: torch.Tensor
    logits_processor: Any
    stopping_criteria: Any
    config: Any
    model_kwargs: dict[str, Any]
    #: What the caller needs back with the output (requests, layout, ...): not read here.
    payload: Any = None
    scores: tuple[torch.Tensor, ...] = ()
    finished: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    #: The last prompt position's embeddings, per row, until the shared step reads them (`join`).
    first_embeds: torch.Tensor | None = None

    @property
    def rows(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def mask(self) -> torch.Tensor:
        """The attention mask of the next step: the cache's columns and the token being fed."""
        return self.model_kwargs["attention_mask"]

    @property
    def cache_length(self) -> int:
        return int(self.mask.shape[1]) - 1


def prepare(language_model: Any, payload: Any = None, **generate_kwargs: Any) -> Cohort:
    """A cohort from `generate`'s own preparation (config, processors, expanded inputs, cache)."""
    captured: dict[str, Any] = {}

    def capture(
        model: Any,
        input_ids: torch.Tensor,
        logits_processor: Any,
        stopping_criteria: Any,
        generation_config: Any,
        **model_kwargs: Any,
    ) -> torch.Tensor:
        model_kwargs.pop("synced_gpus", None)
        model_kwargs.pop("streamer", None)
        captured.update(
            input_ids=input_ids,
            logits_processor=logits_processor,
            stopping_criteria=stopping_criteria,
            config=generation_config,
            model_kwargs=model_kwargs,
        )
        return input_ids

    language_model.generate(custom_generate=capture, **generate_kwargs)
    return Cohort(model=language_model, payload=payload, **captured)


def begin(cohort: Cohort) -> None:
    """The cohort's beam search state before its first token, as `_beam_search` sets it up."""
    model = cohort.model
    config = cohort.config
    num_beams = config.num_beams
    batch_size = cohort.rows // num_beams
    cur_len = int(cohort.input_ids.shape[1])
    eos = config._eos_token_tensor
    n_eos = eos.shape[0] if eos is not None else 0
    beams_to_keep = max(2, 1 + n_eos) * num_beams
    device = cohort.input_ids.device
    fill = config._pad_token_tensor or eos[0] if eos is not None else -1
    running_sequences = torch.full(
        (batch_size, num_beams, config.max_length), fill, dtype=torch.int64, device=device
    )
    running_sequences[:, :, :cur_len] = model._unflatten_beam_dim(cohort.input_ids, batch_size, num_beams)
    running_scores = torch.zeros((batch_size, num_beams), dtype=torch.float, device=device)
    running_scores[:, 1:] = -1e9
    running_indices = torch.full(
        (batch_size, num_beams, config.max_length - cur_len), -1, dtype=torch.int32, device=device
    )
    cohort.state = {
        "batch_size": batch_size,
        "num_beams": num_beams,
        "cur_len": cur_len,
        "prompt_len": cur_len,
        "beams_to_keep": beams_to_keep,
        "top_num_beam_mask": torch.cat(
            (
                torch.ones(num_beams, dtype=torch.bool),
                torch.zeros(beams_to_keep - num_beams, dtype=torch.bool),
            )
        ).to(device),
        "running_sequences": running_sequences,
        "sequences": running_sequences.clone(),
        "running_scores": running_scores,
        "beam_scores": torch.full((batch_size, num_beams), -1e9, dtype=torch.float, device=device),
        "is_sent_finished": torch.zeros((batch_size, num_beams), dtype=torch.bool, device=device),
        "unsatisfied": torch.ones((batch_size, 1), dtype=torch.bool, device=device),
        "running_indices": running_indices,
        "beam_indices": running_indices.clone(),
    }


def start(cohort: Cohort) -> None:
    """The cohort's first step on its own: read the rest of its prompt, choose the first tokens."""
    begin(cohort)
    model, kwargs = cohort.model, cohort.model_kwargs
    outputs = model._prefill(cohort.input_ids, cohort.config, kwargs)
    kwargs = cohort.model_kwargs = model._update_model_kwargs_for_generation(outputs, kwargs)
    if kwargs.get("attention_mask") is None:  # `generate` leaves out a mask of only ones
        length = kwargs["cache"].get_seq_length() + 1
        kwargs["attention_mask"] = _ones(cohort.rows, length, cohort.input_ids.device)
    beam_idx = advance(cohort, outputs.logits[:, -1, :])
    reorder_in_place(kwargs["cache"], beam_idx)


def start_in_step(cohort: Cohort) -> bool:
    """Make the cohort's first step part of the next shared one, when its cache allows; else False.

    The engine reads every prompt token but the last into the cache (`read_prompts_once`); what is
    left is one position per row, which the next shared step can read with everyone's tokens
    instead of a forward pass of its own. Its input is the prompt's own embedding there, as
    `generate`'s prefill would read it (an image query's embedding is not a token's).
    """
    kwargs = cohort.model_kwargs
    cache, embeds = kwargs.get("cache"), kwargs.get("inputs_embeds")
    width = int(cohort.input_ids.shape[1])
    if cache is None or embeds is None or embeds.shape[1] != width or cache.get_seq_length() != width - 1:
        return False
    begin(cohort)
    if kwargs.get("attention_mask") is None:  # `generate` leaves out a mask of only ones
        kwargs["attention_mask"] = _ones(cohort.rows, width, cohort.input_ids.device)
    cohort.first_embeds = embeds[:, -1:, :]
    del kwargs["inputs_embeds"]
    return True


def next_tokens(cohort: Cohort) -> torch.Tensor:
    """The token each row feeds at the next step (its last chosen one), flattened by beam."""
    state = cohort.state
    return state["running_sequences"][:, :, state["cur_len"] - 1].reshape(-1)


def advance(cohort: Cohort, logits: torch.Tensor) -> torch.Tensor:
    """One beam search update from this step's last-position logits; the rows' new order in the cache.

    The body of `GenerationMixin._beam_search` after its forward pass, call for call.
    """
    model, config, s = cohort.model, cohort.config, cohort.state
    batch_size, num_beams, cur_len = s["batch_size"], s["num_beams"], s["cur_len"]
    logits = logits.to(copy=True, dtype=torch.float32, device=cohort.input_ids.device)
    flat_running = model._flatten_beam_dim(s["running_sequences"][:, :, :cur_len])
    log_probs = nn.functional.log_softmax(logits, dim=-1)
    log_probs = cohort.logits_processor(flat_running, log_probs)
    cohort.scores += (log_probs.clone(),)
    log_probs = model._unflatten_beam_dim(log_probs, batch_size, num_beams)
    log_probs = log_probs + s["running_scores"][:, :, None]
    log_probs = torch.reshape(log_probs, (batch_size, -1))
    topk_log_probs, topk_sequences, topk_indices = model._get_top_k_continuations(
        accumulated_log_probs=log_probs,
        running_sequences=s["running_sequences"],
        running_beam_indices=s["running_indices"],
        cur_len=cur_len,
        decoder_prompt_len=s["prompt_len"],
        do_sample=False,
        beams_to_keep=s["beams_to_keep"],
        num_beams=num_beams,
        batch_size=batch_size,
    )
    hits = cohort.stopping_criteria(
        model._flatten_beam_dim(topk_sequences[:, :, : cur_len + 1]), cohort.scores
    )
    hits = model._unflatten_beam_dim(hits, batch_size, s["beams_to_keep"])
    s["running_sequences"], s["running_scores"], s["running_indices"] = (
        model._get_running_beams_for_next_iteration(
            topk_log_probs=topk_log_probs,
            topk_running_sequences=topk_sequences,
            topk_running_beam_indices=topk_indices,
            next_token_hits_stopping_criteria=hits,
            num_beams=num_beams,
        )
    )
    s["sequences"], s["beam_scores"], s["beam_indices"], s["is_sent_finished"] = model._update_finished_beams(
        sequences=s["sequences"],
        topk_running_sequences=topk_sequences,
        beam_scores=s["beam_scores"],
        topk_log_probs=topk_log_probs,
        beam_indices=s["beam_indices"],
        topk_running_beam_indices=topk_indices,
        is_early_stop_heuristic_unsatisfied=s["unsatisfied"],
        is_sent_finished=s["is_sent_finished"],
        next_token_hits_stopping_criteria=hits,
        top_num_beam_mask=s["top_num_beam_mask"],
        num_beams=num_beams,
        cur_len=cur_len,
        decoder_prompt_len=s["prompt_len"],
        length_penalty=config.length_penalty,
        early_stopping=config.early_stopping,
    )
    beam_idx = model._flatten_beam_dim(s["running_indices"][..., cur_len - s["prompt_len"]])
    s["cur_len"] = cur_len = cur_len + 1
    s["unsatisfied"] = model._check_early_stop_heuristic(
        is_early_stop_heuristic_unsatisfied=s["unsatisfied"],
        running_beam_scores=s["running_scores"],
        beam_scores=s["beam_scores"],
        is_sent_finished=s["is_sent_finished"],
        cur_len=cur_len,
        max_length=config.max_length,
        decoder_prompt_len=s["prompt_len"],
        early_stopping=config.early_stopping,
        length_penalty=config.length_penalty,
    )
    cohort.finished = not model._beam_search_has_unfinished_sequences(
        s["unsatisfied"], s["is_sent_finished"], hits, config.early_stopping
    )
    return beam_idx


def output(cohort: Cohort, cache: DynamicCache | None) -> GenerateBeamDecoderOnlyOutput:
    """What `generate` returns for the finished cohort (`_beam_search`'s step 5), `cache` its cache."""
    model, s = cohort.model, cohort.state
    returned = cohort.config.num_return_sequences
    sequences = model._flatten_beam_dim(s["sequences"][:, :returned, :])
    beam_scores = model._flatten_beam_dim(s["beam_scores"][:, :returned])
    beam_indices = model._flatten_beam_dim(s["beam_indices"][:, :returned, :])
    generated = ((beam_indices + 1).bool()).sum(dim=1).max()
    return GenerateBeamDecoderOnlyOutput(
        sequences=sequences[:, : s["prompt_len"] + generated],
        sequences_scores=beam_scores,
        scores=cohort.scores,
        beam_indices=beam_indices[:, :generated],
        cache=cache,
    )


def reorder_in_place(cache: DynamicCache, index: torch.Tensor) -> None:
    """`cache.reorder_cache(index)`, copying only the rows whose beam changed.

    `reorder_cache` copies the whole cache every step (index_select); most rows usually keep their
    beam, so writing just the moved ones in place saves most of that copy, which on a CPU took a
    sixth of a busy joint decode. Call it only right after a forward pass: in place is safe because
    that pass has just made the cache's tensors anew (`DynamicLayer.update` concatenates), and a
    finished cohort's rows are handed out only as views of tensors the decoder then replaces
    (`_release`).
    """
    rows = torch.arange(index.shape[0], device=index.device)
    moved = (index != rows).nonzero()[:, 0]
    if moved.numel() == 0:
        return
    sources = index[moved]
    for layer in cache.layers:
        layer.keys[moved] = layer.keys[sources]
        layer.values[moved] = layer.values[sources]


def _ones(rows: int, columns: int, device: torch.device) -> torch.Tensor:
    return torch.ones((rows, columns), dtype=torch.long, device=device)
