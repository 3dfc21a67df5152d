"""Plain data that crosses the boundary between the chat core and the model.

Requests and results are frozen dataclasses so they can travel through the worker's queue
and be grouped into batches without anyone mutating them on the way (vLLM habit: no anonymous
tuples in queues).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Decoding settings, mirroring the hosted BLIP-2 APIs plus the usual `generate` knobs.

    Defaults are for answers; `CAPTION_OPTIONS` below holds the caption defaults. Requests in one
    batch must share the same options, so the dataclass is hashable and used as a grouping key.
    """

    num_beams: int = 5
    max_new_tokens: int = 10
    min_new_tokens: int = 1
    repetition_penalty: float = 1.5
    length_penalty: float = 1.0
    use_nucleus_sampling: bool = False
    temperature: float = 1.0
    top_p: float = 0.9

    def __post_init__(self) -> None:
        if not 0.5 <= self.temperature <= 1.0:
            raise ValueError(f"temperature must be between 0.5 and 1.0, got {self.temperature}")
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be at least 1, got {self.num_beams}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError("min_new_tokens must be between 0 and max_new_tokens")

    def generate_kwargs(self) -> dict[str, object]:
        """The keyword arguments for `transformers`' `generate`, in its own names."""
        kwargs: dict[str, object] = {
            "max_new_tokens": self.max_new_tokens,
            "min_new_tokens": self.min_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "length_penalty": self.length_penalty,
        }
        if self.use_nucleus_sampling:
            kwargs.update(do_sample=True, top_p=self.top_p, temperature=self.temperature, num_beams=1)
        else:
            kwargs.update(do_sample=False, num_beams=self.num_beams)
        return kwargs


#: Captions: 5 beams and up to 30 new tokens, as the hosted BLIP-2 APIs default to.
CAPTION_OPTIONS = GenerationOptions(num_beams=5, max_new_tokens=30, min_new_tokens=1)
#: Answers to questions: short, 5 beams.
ANSWER_OPTIONS = GenerationOptions(num_beams=5, max_new_tokens=10, min_new_tokens=1)


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One prompt about one image.

    `image_key` is the image's content hash: the engine may cache the image's embeddings under it,
    so two requests with the same key must carry the same pixels.
    """

    image: Image.Image
    image_key: str
    prompt: str
    options: GenerationOptions = field(default_factory=GenerationOptions)
    #: The stored photo's id: a worker in another process loads the photo by it (never the bytes).
    photo_ref: int | None = None


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What the model said, cleaned, with the numbers the logs and the honesty check need.

    `token_ids` are the new tokens as generated (end-of-sequence and padding removed), so a
    benchmark can check two ways of serving for the same output exactly, not by decoded text.
    """

    text: str
    new_tokens: int
    mean_logprob: float | None = None
    generation_ms: float = 0.0
    token_ids: tuple[int, ...] = ()


class Engine(Protocol):
    """A loaded model that turns a batch of requests into results, one result per request, in order.

    `generate_batch` is called from the worker's thread, never from the event loop, and never
    concurrently with itself. A request that cannot be served raises for the whole call; the worker
    then retries the batch one by one so that only the bad request fails.
    """

    name: str
    can_answer_questions: bool

    def count_tokens(self, text: str) -> int:
        """Tokens the language model would see for `text` (for the prompt budget)."""
        ...

    @property
    def prompt_budget_tokens(self) -> int:
        """How many text tokens a prompt may use before the oldest turns are dropped."""
        ...

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]: ...

    def forget(self, image_keys: list[str]) -> None:
        """Drop whatever the engine keeps in memory about these images (a user's /forget)."""
        ...
