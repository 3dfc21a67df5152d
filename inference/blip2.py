"""The BLIP-2 engine: photo plus prompt in, cleaned text with its token count and log-probability out.

One language-model `generate` call per batch, doing what `Blip2ForConditionalGeneration.generate`
does inside (`num_query_tokens` `<image>` placeholders in front of each prompt, their embeddings
replaced by the photo's Q-Former output) but with two memories keyed by the photo's content hash:
the Q-Former output, so a follow-up skips the vision tower, and (decoder-only models) the
key/value states of the photo's latest conversation, so a follow-up reads only its new tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import Blip2ForConditionalGeneration, DynamicCache

from inference.embedding_cache import ByteLRU, tensor_bytes
from inference.generation import Generated, beam_width, eos_ids, pixel_dtype, read_generation, shared_options
from inference.kv_prefix import BatchLayout, Prefix, assemble_cache, extract_prefixes, reusable_length
from inference.loading import ModelLoadError, load_processor, load_weights, read_config, resolve_placement
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
    `embedding_cache_mb` bounds each of the two per-photo memories (image features; key/value
    prefixes, decoder-only models); 0 turns both off. Two GPU options stay off by default because
    they are unmeasured: `static_cache` (a fixed-size key/value cache, which `transformers` pairs
    with a compiled decoding step on CUDA; it rules out prefix reuse) and `compile` (torch.compile
    of the vision tower and Q-Former).
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
        reuse_prefixes = self._decoder_only and not static_cache
        self.prefixes: ByteLRU[Prefix] = ByteLRU.from_mb(embedding_cache_mb if reuse_prefixes else 0)
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
            static_cache=static_cache,
            compile=compile,
        )

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
        """Answer every request with one `generate` call; all must share the same options."""
        if not requests:
            return []
        options = shared_options(requests)
        started = time.perf_counter()
        with torch.inference_mode():
            rows = self.token_rows(requests, options)
            prefixes = [self.prefixes.get(r.image_key) if self.prefixes.enabled else None for r in requests]
            reused = [reusable_length(row, prefix) for row, prefix in zip(rows, prefixes, strict=True)]
            layout = BatchLayout.plan(rows, reused)
            output = self._generate(requests, options, layout, prefixes)
            generated = read_generation(self._language_model, output, self._eos_token_ids)
            if self.prefixes.enabled:
                self._remember_prefixes(requests, options, layout, output, generated)
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

    def _generate(
        self,
        requests: Sequence[GenerationRequest],
        options: GenerationOptions,
        layout: BatchLayout,
        prefixes: Sequence[Prefix | None],
    ) -> Any:
        # Padding gets the image token's id: every row holds it already, so a repetition penalty
        # sees the same set of ids in a padded row as in the row alone.
        ids, mask = layout.tensors(self._image_token_id, self.device)
        embeds = self._embeddings(ids)
        # Rows whose image queries are in a reused prefix need no features at all.
        needing = [i for i, reused in enumerate(layout.reused) if reused < self._num_query_tokens]
        features = self.image_features([requests[i] for i in needing])
        for i in needing:
            embeds[i, layout.columns(i)[: self._num_query_tokens]] = features[requests[i].image_key]
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
                cache = self._read_prompts_once(layout, embeds, mask, cache)
            if cache is not None:
                if beams > 1:
                    cache.batch_repeat_interleave(beams)  # generate expands only tensors
                kwargs["cache"] = cache
            elif self._static_cache:
                kwargs["cache_implementation"] = "static"
        return self._language_model.generate(**kwargs)

    def _read_prompts_once(
        self, layout: BatchLayout, embeds: torch.Tensor, mask: torch.Tensor, cache: DynamicCache | None
    ) -> DynamicCache | None:
        """Read every prompt token but the last into the cache, once per request.

        Beam search copies each prompt `num_beams` times before reading it; reading it first and
        copying the states does the same arithmetic once. `generate` then reads the last token,
        per beam, for the first logits. Positions are made as `generate` makes them.
        """
        start, stop = layout.past_columns, layout.width - 1
        if stop <= start:
            return cache
        cache = cache if cache is not None else DynamicCache(config=self._language_model.config)
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        self._language_model(
            inputs_embeds=embeds[:, start:stop],
            attention_mask=mask[:, :stop],
            position_ids=positions[:, start:stop],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return cache

    def _remember_prefixes(
        self,
        requests: Sequence[GenerationRequest],
        options: GenerationOptions,
        layout: BatchLayout,
        output: Any,
        generated: Sequence[Generated],
    ) -> None:
        cache = getattr(output, "cache", None)
        if cache is None:
            return
        beams = beam_width(options)
        if beams == 1:
            # The cache holds every generated token but the last one; keep the answer up to its end.
            steps = output.sequences.shape[1] - layout.width
            appended = [g.token_ids[: max(0, steps - 1)] for g in generated]
        else:
            # Beam search reorders its cache by beam; only the prompt, the same in every beam, is kept.
            appended = [[] for _ in generated]
        cache_rows = [i * beams for i in range(len(requests))]
        try:
            prefixes = extract_prefixes(cache, layout, cache_rows, appended)
        except ValueError:  # remembering only saves work later: it must never cost an answer
            log.warning("could not keep the key/value prefixes of a batch", exc_info=True)
            return
        for request, prefix in zip(requests, prefixes, strict=True):
            self.prefixes.put(request.image_key, prefix, prefix.nbytes)
