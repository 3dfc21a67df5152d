"""The BLIP-2 engine: photo plus prompt in, cleaned text with its token count and log-probability out.

One language-model `generate` call per batch, doing what `Blip2ForConditionalGeneration.generate`
does inside (`num_query_tokens` `<image>` placeholders in front of each prompt, their embeddings
replaced by the photo's Q-Former output) but with two memories keyed by the photo's content hash:
the Q-Former output, so a follow-up skips the vision tower, and (decoder-only models) the
key/value states of the photo's latest conversation, so a follow-up reads only its new tokens.
Several rows about a new photo in one batch (a description) share one reading of its start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import Blip2ForConditionalGeneration

from inference.embedding_cache import ByteLRU, tensor_bytes
from inference.generation import Generated, beam_width, eos_ids, pixel_dtype, read_generation, shared_options
from inference.joint_serving import GenerationPlan, decode_jointly
from inference.kv_prefix import (
    DEFAULT_KV_CACHE_TOKENS,
    BatchLayout,
    Prefix,
    assemble_cache,
    extract_prefixes,
    kv_bytes_per_token,
    reusable_length,
    shared_starts,
)
from inference.loading import ModelLoadError, load_processor, load_weights, read_config, resolve_placement
from inference.prefill import generated_prefixes, prefill, read_prompts_once
from inference.prompts import clean_answer
from inference.types import GenerationOptions, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

#: Longest prompt worth sending: BLIP-2 was trained on short captions and questions.
PROMPT_BUDGET_CAP_TOKENS = 256
#: Positions kept free for the answer when sizing the prompt budget (the caption default is 30).
ANSWER_HEADROOM_TOKENS = 32
#: Flan-T5 uses relative positions; 512 is the input length it was trained with.
T5_MAX_POSITIONS = 512
#: Preprocessed photos waiting for their batch (about 0.6 MB each at 224x224).
PREPARED_PIXELS_MB = 64


class Blip2Engine:
    """A loaded BLIP-2 (OPT or Flan-T5) that serves batches of `GenerationRequest`s.

    Built from already loaded objects so tests can hand it a random model; `load` does the loading.
    Each per-photo memory has its own budget, 0 turning it off: `embedding_cache_mb` for image
    features, `kv_cache_tokens` for key/value prefixes (decoder-only models), counted in tokens
    because what a token costs depends on the model (`kv_bytes_per_token`). Two GPU options stay
    off by default because they are unmeasured: `static_cache` (a fixed-size key/value cache,
    which `transformers` pairs with a compiled decoding step on CUDA; it rules out prefix reuse)
    and `compile` (torch.compile of the vision tower and Q-Former).
    """

    can_answer_questions = True

    def __init__(
        self,
        model: Blip2ForConditionalGeneration,
        processor: Any,
        device: str | torch.device,
        name: str,
        *,
        embedding_cache_mb: float = 0,
        kv_cache_tokens: int = DEFAULT_KV_CACHE_TOKENS,
        static_cache: bool = False,
        compile: bool = False,
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
        self._image_token_id = config.image_token_index
        self._max_positions = getattr(config.text_config, "max_position_embeddings", None) or T5_MAX_POSITIONS
        self._language_model = model.language_model
        self._embeddings = model.get_input_embeddings()
        self._eos_token_ids = eos_ids(self._language_model.generation_config)
        self._pixel_dtype = pixel_dtype(model)
        self._static_cache = static_cache
        self.features: ByteLRU[torch.Tensor] = ByteLRU.from_mb(embedding_cache_mb)
        #: What one token of a kept prefix takes: the key/value states of every decoder layer.
        self.kv_bytes_per_token = kv_bytes_per_token(config.text_config, self._embeddings.weight.dtype)
        if kv_cache_tokens < 0:
            raise ValueError(f"kv_cache_tokens must be 0 or more, got {kv_cache_tokens}")
        reuse_prefixes = self._decoder_only and not static_cache
        kv_budget = kv_cache_tokens * self.kv_bytes_per_token if reuse_prefixes else 0
        self.prefixes: ByteLRU[Prefix] = ByteLRU(kv_budget)
        # Photos preprocessed by `prepare` on another thread while a batch generates. That pays
        # when the device is a GPU; on the CPU the two threads would only share the same cores.
        self.overlaps_preprocessing = self.device.type != "cpu"
        self._pixels: ByteLRU[torch.Tensor] = ByteLRU.from_mb(PREPARED_PIXELS_MB)
        if compile:
            model.vision_model.compile()
            model.qformer.compile()

    @classmethod
    def load(
        cls,
        model: str,
        *,
        device: str = "auto",
        precision: str = "fp32",
        embedding_cache_mb: float = 0,
        kv_cache_tokens: int = DEFAULT_KV_CACHE_TOKENS,
        static_cache: bool = False,
        compile: bool = False,
    ) -> Blip2Engine:
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
        return cls(
            loaded,
            processor,
            placement.device,
            name=model,
            embedding_cache_mb=embedding_cache_mb,
            kv_cache_tokens=kv_cache_tokens,
            static_cache=static_cache,
            compile=compile,
        )

    @property
    def language_model(self) -> Any:
        return self._language_model

    def forget(self, image_keys: list[str]) -> None:
        """Drop the cached features, pixels and conversation prefix of these photos (thread-safe)."""
        for key in image_keys:
            self.features.pop(key)
            self.prefixes.pop(key)
            self._pixels.pop(key)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` alone, without the begin/end markers the tokenizer adds."""
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def prompt_budget_tokens(self) -> int:
        """Room for prompt text: positions less the image queries, an answer's headroom and 2 markers."""
        room = self._max_positions - self._num_query_tokens - ANSWER_HEADROOM_TOKENS - 2
        return max(1, min(PROMPT_BUDGET_CAP_TOKENS, room))

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """Answer every request in one decode; all must share the same options.

        Beam search on a decoder-only model goes through `joint_decode` (the path a running
        decode can be joined on: see `decode_jointly`), anything else through plain `generate`.
        """
        if not requests:
            return []
        if self.joins(shared_options(requests)):
            answered: list[GenerationResult] = []
            decode_jointly(self, [requests], more=list, done=lambda _, results: answered.extend(results))
            return answered
        with torch.inference_mode():
            plan = self.plan(requests)
            return self.results(plan, self._language_model.generate(**plan.kwargs))

    def joins(self, options: GenerationOptions) -> bool:
        """Whether batches with `options` can join a running decode (`joint_decode`'s scope)."""
        return self._decoder_only and not self._static_cache and beam_width(options) > 1

    def plan(self, requests: list[GenerationRequest]) -> GenerationPlan:
        """Everything before `generate`: token rows, reused prefixes, image features, the arguments.

        Call under `torch.inference_mode`.
        """
        options = shared_options(requests)
        started = time.perf_counter()
        keys = [request.image_key for request in requests]
        rows = self.token_rows(requests, options)
        prefixes = [self.prefixes.get(key) if self.prefixes.enabled else None for key in keys]
        reused = [reusable_length(row, prefix) for row, prefix in zip(rows, prefixes, strict=True)]
        # Rows whose image queries are in a reused prefix need no features at all.
        features = self.image_features(
            [request for request, n in zip(requests, reused, strict=True) if n < self._num_query_tokens]
        )
        starts = shared_starts(keys, rows, prefixes) if self.prefixes.enabled else {}
        if starts:
            read = self._read_starts(starts, features)
            prefixes = [read.get(key, prefix) for key, prefix in zip(keys, prefixes, strict=True)]
            reused = [reusable_length(row, prefix) for row, prefix in zip(rows, prefixes, strict=True)]
        layout = BatchLayout.plan(rows, reused)
        kwargs = self._generate_kwargs(keys, options, layout, prefixes, features)
        return GenerationPlan(requests, keys, options, layout, kwargs, started)

    def results(self, plan: GenerationPlan, output: Any) -> list[GenerationResult]:
        """Each request's answer from `generate`'s output; its prefix kept for follow-ups."""
        generated = read_generation(output, self._eos_token_ids)
        if self.prefixes.enabled:
            self._remember_prefixes(plan.keys, plan.options, plan.layout, output, generated)
        texts = self._tokenizer.batch_decode([g.token_ids for g in generated], skip_special_tokens=True)
        elapsed_ms = (time.perf_counter() - plan.started) * 1000
        return [
            GenerationResult(
                text=clean_answer(text, request.prompt),
                new_tokens=len(g.token_ids),
                mean_logprob=g.mean_logprob,
                generation_ms=elapsed_ms,
                token_ids=tuple(g.token_ids),
            )
            for request, g, text in zip(plan.requests, generated, texts, strict=True)
        ]

    def prepare(self, request: GenerationRequest) -> None:
        """Preprocess the request's photo ahead of its batch, unless its features are cached.

        Called by the worker from a thread of its own while another batch generates; the batch
        then finds the pixels ready. Any failure here is left for `generate_batch` to report.
        """
        key = request.image_key
        if key in self.features or key in self._pixels:
            return
        pixels = self.processor.image_processor([request.image], return_tensors="pt")["pixel_values"][0]
        if key not in self.features:
            self._pixels.put(key, pixels, tensor_bytes(pixels))

    def token_rows(
        self, requests: Sequence[GenerationRequest], options: GenerationOptions
    ) -> list[list[int]]:
        """Each request's input ids, unpadded: the image placeholders, then the tokenized prompt.

        The same ids the processor makes: the prompt is cut from the left so that image queries,
        prompt and answer fit the model's positions.
        """
        max_text_tokens = self._max_positions - options.max_new_tokens - self._num_query_tokens
        encoded = self._tokenizer(
            [request.prompt for request in requests], truncation=True, max_length=max_text_tokens
        )["input_ids"]
        image = [self._image_token_id] * self._num_query_tokens
        return [image + list(ids) for ids in encoded]

    def image_features(self, requests: Sequence[GenerationRequest]) -> dict[str, torch.Tensor]:
        """The projected Q-Former output of each distinct photo, shape (queries, hidden), cached by key.

        Only photos missing from the cache are preprocessed and sent through the vision tower,
        together in one batch. Call under `torch.inference_mode`.
        """
        found: dict[str, torch.Tensor] = {}
        missing: dict[str, Any] = {}
        for request in requests:
            key = request.image_key
            if key in found or key in missing:
                continue
            cached = self.features.get(key) if self.features.enabled else None
            if cached is not None:
                found[key] = cached
            else:
                missing[key] = request.image
        if missing:
            pixels = self._pixel_values(missing).to(self.device, self._pixel_dtype)
            computed = self.model.get_image_features(pixel_values=pixels).pooler_output
            computed = computed.to(self._embeddings.weight.dtype)
            for key, features in zip(missing, computed, strict=True):
                features = features.clone()  # a row of its own, not a view pinning the whole batch
                self.features.put(key, features, tensor_bytes(features))
                found[key] = features
        return found

    def _pixel_values(self, images: dict[str, Any]) -> torch.Tensor:
        """The photos' pixel values in order, taking those `prepare` already made."""
        ready = {key: self._pixels.pop(key) for key in images}
        fresh = [key for key, pixels in ready.items() if pixels is None]
        if fresh:
            processed = self.processor.image_processor([images[key] for key in fresh], return_tensors="pt")
            ready.update(zip(fresh, processed["pixel_values"], strict=True))
        return torch.stack([ready[key] for key in images])

    def _embed(
        self, keys: Sequence[str], layout: BatchLayout, features: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The layout's ids, attention mask and input embeddings, each photo's features in its image queries.

        Padding gets the image token's id: every row holds it already, so a repetition penalty
        sees the same set of ids in a padded row as in the row alone. Rows that reuse their image
        queries from a prefix are not given features: those columns are never read.
        """
        ids, mask = layout.tensors(self._image_token_id, self.device)
        embeds = self._embeddings(ids)
        for i, reused in enumerate(layout.reused):
            if reused < self._num_query_tokens:
                # A shared start may stop inside the image queries (a tokenizer without a BOS).
                columns = layout.columns(i)[: self._num_query_tokens]
                embeds[i, columns] = features[keys[i]][: len(columns)]
        return ids, mask, embeds

    def _read_starts(
        self, starts: Mapping[str, Sequence[int]], features: Mapping[str, torch.Tensor]
    ) -> dict[str, Prefix]:
        """Read each photo's shared start (`shared_starts`) once, all in one pass, and keep it as its prefix.

        The batch's rows then continue from it like any follow-up; a later batch about the photo
        (the description's questions after its caption) finds it, or the longer prefix kept after
        this batch, which begins with it.
        """
        layout = BatchLayout.plan(list(starts.values()))
        _, mask, embeds = self._embed(list(starts), layout, features)
        cache = prefill(self._language_model, embeds, mask, None)
        prefixes = extract_prefixes(cache, layout, range(len(starts)), [() for _ in starts])
        read = dict(zip(starts, prefixes, strict=True))
        for key, prefix in read.items():
            self.prefixes.put(key, prefix, prefix.nbytes)
        return read

    def _generate_kwargs(
        self,
        keys: Sequence[str],
        options: GenerationOptions,
        layout: BatchLayout,
        prefixes: Sequence[Prefix | None],
        features: Mapping[str, torch.Tensor],
    ) -> dict[str, Any]:
        ids, mask, embeds = self._embed(keys, layout, features)
        kwargs: dict[str, Any] = {
            **options.generate_kwargs(),
            "inputs_embeds": embeds,
            "attention_mask": mask,
            "output_scores": True,
            "return_dict_in_generate": True,
        }
        if self._decoder_only:
            # The ids go along, as in BLIP-2's own generate: the output echoes them, penalties see them.
            kwargs["input_ids"] = ids
            cache = assemble_cache(layout, prefixes, self._language_model.config)
            beams = beam_width(options)
            if beams > 1 and not self._static_cache:
                cache = read_prompts_once(self._language_model, layout, embeds, mask, cache)
            if cache is not None:
                if beams > 1:
                    cache.batch_repeat_interleave(beams)  # generate expands only tensors
                kwargs["cache"] = cache
            elif self._static_cache:
                kwargs["cache_implementation"] = "static"
        return kwargs

    def _remember_prefixes(
        self,
        keys: Sequence[str],
        options: GenerationOptions,
        layout: BatchLayout,
        output: Any,
        generated: Sequence[Generated],
    ) -> None:
        """Keep each request's prefix under its photo (the last request of a photo wins)."""
        try:
            prefixes = generated_prefixes(output, options, layout, generated)
        except ValueError:  # remembering only saves work later: it must never cost an answer
            log.warning("could not keep the key/value prefixes of a batch", exc_info=True)
            return
        for key, prefix in zip(keys, prefixes, strict=False):  # none when `generate` kept no cache
            self.prefixes.put(key, prefix, prefix.nbytes)
