"""From a model name, a device and a precision to loaded `transformers` objects, or a clear error.

Every way loading can fail that a user can fix (a wrong name, int8 without a GPU, an unsupported
architecture) becomes a one-line `ModelLoadError`; the engines never see a half-loaded model.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub import try_to_load_from_cache
from huggingface_hub.utils import enable_progress_bars
from transformers import AutoConfig, AutoProcessor, BitsAndBytesConfig, PreTrainedConfig
from transformers.utils import logging as hf_logging

log = logging.getLogger(__name__)
# Weight-loading progress bars are noise in a service log and in `blipbot describe`'s output; a
# first start's download is not: it can take many minutes, so its bars stay on (one file's, or
# a sharded checkpoint's total). The hub draws them only on a terminal, never into a log file,
# and HF_HUB_DISABLE_PROGRESS_BARS, when set, overrules all of this.
hf_logging.disable_progress_bar()
if hub_constants.HF_HUB_DISABLE_PROGRESS_BARS is None:
    for _group in (
        "huggingface_hub.http_get",
        "huggingface_hub.xet_get",
        "huggingface_hub.snapshot_download",
    ):
        enable_progress_bars(_group)

#: A checkpoint's weights: one file, or shards listed in an index (safetensors first, as loading prefers).
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")

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
    check_precision(precision)
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


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")


def _has_bf16(device: torch.device) -> bool:
    return device.type != "cuda" or torch.cuda.is_bf16_supported(including_emulation=False)


def _name(dtype: torch.dtype) -> str:
    return next((name for name, known in _FLOAT_DTYPES.items() if known == dtype), str(dtype))


def local_model_dir(model: str) -> Path | None:
    """The directory `model` names (one that exists, or a name written as a path), or None for a Hub id."""
    path = Path(model).expanduser()
    if path.is_absolute() or model.startswith((".", "~")) or path.is_dir():
        return path
    return None


def has_weights(folder: Path) -> bool:
    """Whether `folder` holds a whole checkpoint: a weights file, or every shard its index lists."""
    for index in WEIGHT_INDEXES:
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"].values())
            except (OSError, ValueError, KeyError, AttributeError):
                return False
            return all((folder / shard).is_file() for shard in shards)
    return any((folder / name).is_file() for name in WEIGHT_FILES)


def needs_download(model: str) -> bool:
    """Whether loading `model` first fetches its weights: a Hub id whose weights are not in the local cache.

    Looks in the cache only (no network), where the config is cached next to the weights.
    """
    if local_model_dir(model) is not None:
        return False
    try:
        cached_config = try_to_load_from_cache(model, "config.json")
    except ValueError:  # not a valid Hub id either: reading its config will say so
        return False
    return not isinstance(cached_config, str) or not has_weights(Path(cached_config).parent)


def read_config(model: str) -> PreTrainedConfig:
    """The model's config from its directory or the Hub, without loading any weights."""
    path = local_model_dir(model)
    if path is not None and not path.exists():
        raise ModelLoadError(f"no model directory at {model!r}")
    if path is not None and path.is_dir() and not (path / "config.json").is_file():
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
