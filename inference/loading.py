"""From a model name, a device and a precision to loaded `transformers` objects, or a clear error.

Every way loading can fail that a user can fix (a wrong name, int8 without a GPU, an unsupported
architecture) becomes a one-line `ModelLoadError`; the engines never see a half-loaded model.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoProcessor, BitsAndBytesConfig, PreTrainedConfig
from transformers.utils import logging as hf_logging

log = logging.getLogger(__name__)
# Weight-loading progress bars are noise in a service log and in `blipbot describe`'s output.
hf_logging.disable_progress_bar()

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int4")
_FLOAT_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class ModelLoadError(RuntimeError):
    """The model cannot be loaded as asked; the message says why in one line, fit to show a user."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and how the weights live: `dtype` is the compute dtype, `quantization` the bitsandbytes mode."""

    device: torch.device
    dtype: torch.dtype
    quantization: str | None = None  # "int8" | "int4"

    def from_pretrained_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `from_pretrained` that put the weights here.

        `from_pretrained` builds the model empty and casts each tensor to `dtype` as it reads it,
        so no fp32 copy is ever made. On a GPU a `device_map` sends each tensor straight there:
        without one the whole model would first sit in host memory (7.7 GB for blip2-opt-2.7b in
        fp16), and bitsandbytes refuses a `.to(device)` afterwards anyway.
        """
        kwargs: dict[str, Any] = {"dtype": self.dtype}
        if self.quantization == "int8":
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        elif self.quantization == "int4":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=self.dtype
            )
        if self.device.type == "cuda":
            index = self.device.index if self.device.index is not None else torch.cuda.current_device()
            kwargs["device_map"] = {"": index}
        return kwargs


def resolve_device(device: str) -> torch.device:
    """The GPU when there is one and `device` is "auto", else the CPU; a named device must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ModelLoadError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} asked for, but this machine has no usable CUDA GPU")
    return resolved


def resolve_placement(device: str, precision: str, *, language_model_type: str) -> Placement:
    """Choose device and dtype, honouring `precision` where the hardware and model allow it.

    The CPU always runs fp32 (half precision there is slow or unsupported), with a warning;
    Flan-T5 overflows in fp16, so on a GPU it gets bf16 instead, or fp32 where bf16 is missing.
    """
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    where = resolve_device(device)
    quantization = precision if precision in ("int8", "int4") else None
    if quantization:
        if where.type != "cuda":
            raise ModelLoadError(f"{precision} needs a CUDA GPU (bitsandbytes); on {where.type} use fp32")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ModelLoadError(f"{precision} needs bitsandbytes: pip install 'blipbot[gpu]'")
    if where.type == "cpu":
        if precision != "fp32":
            log.warning("precision %s is not used on the CPU; loading the model in fp32", precision)
        return Placement(where, torch.float32)
    dtype = _FLOAT_DTYPES.get(precision, torch.float16)
    is_t5 = language_model_type == "t5"
    if is_t5 and dtype == torch.float16:
        dtype = torch.bfloat16 if _has_bf16(where) else torch.float32
        log.warning("Flan-T5 overflows in fp16 (activations beyond 65504); using %s instead", _name(dtype))
    elif dtype == torch.bfloat16 and not _has_bf16(where):
        dtype = torch.float32 if is_t5 else torch.float16
        log.warning("this GPU has no bf16 support; using %s instead", _name(dtype))
    return Placement(where, dtype, quantization)


def _has_bf16(device: torch.device) -> bool:
    return device.type != "cuda" or torch.cuda.is_bf16_supported(including_emulation=False)


def _name(dtype: torch.dtype) -> str:
    return next((name for name, known in _FLOAT_DTYPES.items() if known == dtype), str(dtype))


def read_config(model: str) -> PreTrainedConfig:
    """The model's config from its directory or the Hub, without loading any weights."""
    path = Path(model).expanduser()
    looks_local = path.is_absolute() or model.startswith((".", "~"))
    if looks_local and not path.exists():
        raise ModelLoadError(f"no model directory at {model!r}")
    if path.is_dir() and not (path / "config.json").is_file():
        raise ModelLoadError(f"{model!r} is a directory but holds no model (config.json is missing)")
    try:
        return AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_not_found(model, exc)) from exc


def load_processor(model: str) -> Any:
    """The model's processor (image preprocessing plus tokenizer)."""
    try:
        return AutoProcessor.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_not_found(model, exc)) from exc


def load_weights(model_class: Any, model: str, placement: Placement, *, sdpa: bool) -> Any:
    """`model_class.from_pretrained(model)` placed as asked, in eval mode."""
    kwargs = placement.from_pretrained_kwargs()
    if sdpa:
        kwargs["attn_implementation"] = "sdpa"
    try:
        loaded = model_class.from_pretrained(model, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_not_found(model, exc)) from exc
    if "device_map" not in kwargs:  # on the GPU the weights were read straight onto it
        loaded = loaded.to(placement.device)
    log.info(
        "loaded %s on %s in %s", model, placement.device, placement.quantization or _name(placement.dtype)
    )
    return loaded.eval()


def _not_found(model: str, exc: Exception) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"cannot load model {model!r}: it is neither a local model directory nor a Hugging Face Hub id "
        f"this machine can fetch ({first_line})"
    )
