"""How much memory a model needs in a precision, and whether the device has it: from its config alone.

Parameters are counted on PyTorch's meta device (shapes, no storage), so blip2-opt-2.7b's 3.7
billion are sized in a tenth of a second without reading a byte of weights. Loading checks the
estimate first, so a start that cannot fit says so in one line instead of swapping for minutes
or being killed halfway; `blipbot doctor` shows the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import Blip2ForConditionalGeneration, BlipForConditionalGeneration, PreTrainedConfig

from inference.loading import ModelLoadError, check_precision

#: Bytes a weight takes in each precision (bitsandbytes' int4 packs two weights in a byte).
BYTES_PER_PARAMETER = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
#: Room beyond the weights, as a fraction of them: activations of a batch, the image-feature and
#: key/value caches, the CUDA context. Rough on purpose: the check refuses only what cannot fit.
OVERHEAD_FRACTION = 0.1
MEMINFO_PATH = Path("/proc/meminfo")

_MODEL_CLASSES: dict[str, type[torch.nn.Module]] = {
    "blip-2": Blip2ForConditionalGeneration,
    "blip": BlipForConditionalGeneration,
}


@dataclass(frozen=True, slots=True)
class MemoryNeed:
    """What `model` takes on `device` in `precision` (the precision it will really run in there)."""

    model: str
    device: torch.device
    precision: str
    parameters: int

    @property
    def weights_bytes(self) -> int:
        return round(self.parameters * BYTES_PER_PARAMETER[self.precision])

    @property
    def needed_bytes(self) -> int:
        return round(self.weights_bytes * (1 + OVERHEAD_FRACTION))


def count_parameters(config: PreTrainedConfig) -> int:
    """The model's parameters (shared ones once), from a model built on the meta device."""
    model_class = _MODEL_CLASSES.get(config.model_type)
    if model_class is None:
        raise ModelLoadError(f"cannot size a {config.model_type!r} model; blipbot runs blip-2 and blip")
    with torch.device("meta"):
        model = model_class(config)
    return sum(parameter.numel() for parameter in model.parameters())


def precision_on(device: torch.device, precision: str) -> str:
    """The precision the loader uses on `device`: the CPU runs fp16 and bf16 as fp32 (`resolve_placement`)."""
    check_precision(precision)
    return "fp32" if device.type == "cpu" and precision in ("fp16", "bf16") else precision


def memory_need(model: str, config: PreTrainedConfig, *, device: torch.device, precision: str) -> MemoryNeed:
    return MemoryNeed(model, device, precision_on(device, precision), count_parameters(config))


def checkpoint_bytes(config: PreTrainedConfig, parameters: int) -> int:
    """The size of the saved weights (what a first start downloads), in the dtype the config says they are."""
    dtype = getattr(config, "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    itemsize = dtype.itemsize if isinstance(dtype, torch.dtype) else 4  # unstated: saved in fp32
    return parameters * itemsize


def available_memory(device: torch.device) -> int | None:
    """Bytes free on the GPU, or the host's available memory for the CPU; None where unknown."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free
    return meminfo_available()


def meminfo_available(meminfo: Path = MEMINFO_PATH) -> int | None:
    """Linux's MemAvailable (free memory plus caches it can drop), or None elsewhere."""
    try:
        lines = meminfo.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024  # reported in kB
    return None


def ensure_fits(need: MemoryNeed, available_bytes: int | None) -> None:
    """Raise `ModelLoadError` with advice when `need` exceeds `available_bytes` (None: unknown, pass)."""
    if available_bytes is None or need.needed_bytes <= available_bytes:
        return
    size = BYTES_PER_PARAMETER[need.precision]
    smaller = [p for p in ("fp16", "int8", "int4") if BYTES_PER_PARAMETER[p] < size]
    advice = "Use a smaller model."
    if need.device.type == "cuda":
        where = f"GPU memory; {device_label(need.device)} has {gigabytes(available_bytes)} free"
        if smaller:
            advice = f"Use precision {_either(smaller)}, or a smaller model."
    else:
        where = f"memory; this machine has {gigabytes(available_bytes)} available"
        advice = "Use a GPU (precision fp16, int8 or int4), or a smaller model."
    needed = gigabytes(need.needed_bytes)
    raise ModelLoadError(f"{need.model} in {need.precision} needs about {needed} of {where}. {advice}")


def _either(choices: list[str]) -> str:
    return " or ".join(choices) if len(choices) < 3 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def device_label(device: torch.device) -> str:
    """'cuda:0' for the GPU the loader picks (also when asked for plain 'cuda'), else 'cpu'."""
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def gigabytes(size: int) -> str:
    """'15.0 GB', or '12 MB' below a gigabyte (a test model's size would read '0.0 GB')."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
