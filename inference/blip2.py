"""The BLIP-2 engine: photo plus prompt in, cleaned text with its token count and log-probability out.

One `generate` call per batch. The processor puts `num_query_tokens` `<image>` placeholders in front
of each prompt (before any padding, so left padding lands between them and the text) and the model
overwrites their embeddings with the Q-Former's output.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import Blip2ForConditionalGeneration

from inference.loading import ModelLoadError, load_processor, load_weights, read_config, resolve_placement
from inference.prompts import clean_answer
from inference.types import GenerationOptions, GenerationRequest, GenerationResult

#: Longest prompt worth sending: BLIP-2 was trained on short captions and questions.
PROMPT_BUDGET_CAP_TOKENS = 256
#: Positions kept free for the answer when sizing the prompt budget (the caption default is 30).
ANSWER_HEADROOM_TOKENS = 32
#: Flan-T5 uses relative positions; 512 is the input length it was trained with.
T5_MAX_POSITIONS = 512


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


class Blip2Engine:
    """A loaded BLIP-2 (OPT or Flan-T5) that serves batches of `GenerationRequest`s.

    Built from already loaded objects so tests can hand it a random model; `load` does the loading.
    """

    can_answer_questions = True

    def __init__(
        self, model: Blip2ForConditionalGeneration, processor: Any, device: str | torch.device, name: str
    ) -> None:
        self.model = model
        self.processor = processor
        self.device = torch.device(device)
        self.name = name
        config = model.config
        if processor.num_query_tokens is None:
            # Without it the processor adds no <image> placeholders and the photo is silently ignored.
            processor.num_query_tokens = config.num_query_tokens
        self._tokenizer = processor.tokenizer
        self._decoder_only = bool(config.use_decoder_only_language_model)
        if self._decoder_only:
            # The model continues each prompt from its last token, so padding must go in front.
            self._tokenizer.padding_side = "left"
        # Keep the current question when a prompt is over the model's length: cut from the left.
        self._tokenizer.truncation_side = "left"
        self._num_query_tokens = config.num_query_tokens
        self._max_positions = getattr(config.text_config, "max_position_embeddings", None) or T5_MAX_POSITIONS
        self._eos_token_ids = eos_ids(model.language_model.generation_config)
        self._pixel_dtype = model.vision_model.embeddings.patch_embedding.weight.dtype

    @classmethod
    def load(cls, model: str, *, device: str = "auto", precision: str = "fp32") -> Blip2Engine:
        """Load a BLIP-2 checkpoint (hub id or directory) onto `device` in `precision`."""
        config = read_config(model)
        if config.image_token_index is None:
            raise ModelLoadError(
                f"{model!r} predates BLIP-2's <image> token (no image_token_index in its config); "
                "use a current Salesforce/blip2-* checkpoint"
            )
        placement = resolve_placement(device, precision, language_model_type=config.text_config.model_type)
        processor = load_processor(model)
        loaded = load_weights(Blip2ForConditionalGeneration, model, placement, sdpa=True)
        return cls(loaded, processor, placement.device, name=model)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` alone, without the begin/end markers the tokenizer adds."""
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def prompt_budget_tokens(self) -> int:
        """Room for prompt text: positions less the image queries, an answer's headroom and 2 markers."""
        room = self._max_positions - self._num_query_tokens - ANSWER_HEADROOM_TOKENS - 2
        return max(1, min(PROMPT_BUDGET_CAP_TOKENS, room))

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """Answer every request with one `generate` call; all must share the same options."""
        if not requests:
            return []
        options = shared_options(requests)
        started = time.perf_counter()
        inputs = self._inputs(requests, options)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, **options.generate_kwargs(), output_scores=True, return_dict_in_generate=True
            )
        generated = read_generation(self.model.language_model, output, self._eos_token_ids)
        texts = self._tokenizer.batch_decode([g.token_ids for g in generated], skip_special_tokens=True)
        elapsed_ms = (time.perf_counter() - started) * 1000
        return [
            GenerationResult(
                text=clean_answer(text, request.prompt),
                new_tokens=len(g.token_ids),
                mean_logprob=g.mean_logprob,
                generation_ms=elapsed_ms,
            )
            for request, g, text in zip(requests, generated, texts, strict=True)
        ]

    def _inputs(self, requests: Sequence[GenerationRequest], options: GenerationOptions) -> dict[str, Any]:
        # The whole sequence (image queries + prompt + answer) must fit the position table.
        max_length = self._max_positions - options.max_new_tokens
        inputs = self.processor(
            images=[request.image for request in requests],
            text=[request.prompt for request in requests],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_length,
        ).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self._pixel_dtype)
        return dict(inputs)
