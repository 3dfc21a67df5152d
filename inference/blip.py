"""The BLIP (v1) captioning engine: describes photos, politely declines questions.

BLIP's captioner continues a fixed text prefix ("a picture of") from the image; it has no way to
take a question, so `can_answer_questions` is False and a question that arrives anyway gets a
fixed reply instead of a made-up caption.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from transformers import BlipForConditionalGeneration

from inference.generation import eos_ids, pixel_dtype, read_generation, shared_options
from inference.loading import load_processor, load_weights, read_config, resolve_placement
from inference.prompts import caption_prompt, clean_answer
from inference.types import GenerationRequest, GenerationResult

#: The reply to a question sent to a captioning-only model.
CANNOT_ANSWER = "I can only describe photos with this model, not answer questions about them."


class BlipCaptionEngine:
    """A loaded `BlipForConditionalGeneration` captioner; `load` does the loading."""

    can_answer_questions = False

    def __init__(
        self,
        model: BlipForConditionalGeneration,
        processor: Any,
        device: str | torch.device,
        name: str,
        caption_prefix: str = "",
    ) -> None:
        self.model = model
        self.processor = processor
        self.device = torch.device(device)
        self.name = name
        self.caption_prefix = caption_prompt(caption_prefix)
        self._tokenizer = processor.tokenizer
        # BLIP's `generate` stops at [SEP] whatever the generation config says.
        self._eos_token_ids = {model.config.text_config.sep_token_id} | eos_ids(
            model.text_decoder.generation_config
        )
        self._pixel_dtype = pixel_dtype(model)

    @classmethod
    def load(
        cls, model: str, *, device: str = "auto", precision: str = "fp32", caption_prefix: str = ""
    ) -> BlipCaptionEngine:
        """Load a BLIP captioning checkpoint (hub id or directory) onto `device` in `precision`."""
        read_config(model)  # fails early, with a clear message, on a wrong name
        placement = resolve_placement(device, precision, language_model_type="bert")
        processor = load_processor(model)
        # BLIP's attention has no SDPA path in transformers, so it keeps the eager one.
        loaded = load_weights(BlipForConditionalGeneration, model, placement, sdpa=False)
        return cls(loaded, processor, placement.device, name=model, caption_prefix=caption_prefix)

    def forget(self, image_keys: list[str]) -> None:
        """Nothing to drop: this engine keeps no per-photo state."""

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` alone, without [CLS]/[SEP]."""
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def prompt_budget_tokens(self) -> int:
        """Only the caption prefix is ever sent, so the budget is just room for it."""
        return max(1, self.count_tokens(self.caption_prefix))

    def is_caption(self, prompt: str) -> bool:
        """Whether `prompt` asks for a caption (empty, or this engine's prefix) rather than a question."""
        return prompt.strip() in ("", self.caption_prefix)

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """Caption every caption request in one `generate` call; questions get `CANNOT_ANSWER`."""
        if not requests:
            return []
        options = shared_options(requests)
        started = time.perf_counter()
        wanted = [i for i, request in enumerate(requests) if self.is_caption(request.prompt)]
        results = [GenerationResult(text=CANNOT_ANSWER, new_tokens=0)] * len(requests)
        if wanted:
            inputs = self.processor(
                images=[requests[i].image for i in wanted],
                text=[self.caption_prefix] * len(wanted) if self.caption_prefix else None,
                return_tensors="pt",
            ).to(self.device)
            inputs["pixel_values"] = inputs["pixel_values"].to(self._pixel_dtype)
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs, **options.generate_kwargs(), output_scores=True, return_dict_in_generate=True
                )
            generated = read_generation(output, self._eos_token_ids)
            texts = self._tokenizer.batch_decode([g.token_ids for g in generated], skip_special_tokens=True)
            elapsed_ms = (time.perf_counter() - started) * 1000
            for i, g, text in zip(wanted, generated, texts, strict=True):
                results[i] = GenerationResult(
                    text=clean_answer(text, self.caption_prefix),
                    new_tokens=len(g.token_ids),
                    mean_logprob=g.mean_logprob,
                    generation_ms=elapsed_ms,
                    token_ids=tuple(g.token_ids),
                )
        return results
