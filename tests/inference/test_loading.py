"""Device and precision choices, checked on any machine by pretending to have a GPU."""

from __future__ import annotations

import importlib.util
import logging

import pytest
import torch

from inference import loading
from inference.loading import ModelLoadError, resolve_placement


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """CUDA looks present, with bf16, and bitsandbytes looks installed."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        loading.importlib.util,
        "find_spec",
        lambda name, *args: object() if name == "bitsandbytes" else real_find_spec(name, *args),
    )
    return monkeypatch


def test_auto_picks_the_gpu_when_there_is_one(fake_gpu: pytest.MonkeyPatch) -> None:
    assert resolve_placement("auto", "fp16", language_model_type="opt").device.type == "cuda"


def test_auto_falls_back_to_the_cpu_in_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    placement = resolve_placement("auto", "bf16", language_model_type="opt")

    assert (placement.device.type, placement.dtype, placement.quantization) == ("cpu", torch.float32, None)


@pytest.mark.parametrize(
    ("precision", "expected"), [("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)]
)
def test_gpu_precisions_are_honoured_for_opt(fake_gpu: pytest.MonkeyPatch, precision, expected) -> None:
    assert resolve_placement("cuda", precision, language_model_type="opt").dtype == expected


def test_flan_t5_gets_bf16_instead_of_fp16_and_says_why(
    fake_gpu: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        placement = resolve_placement("cuda", "fp16", language_model_type="t5")

    assert placement.dtype == torch.bfloat16
    assert "overflows in fp16" in caplog.text


def test_flan_t5_without_bf16_runs_fp32(fake_gpu: pytest.MonkeyPatch) -> None:
    fake_gpu.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)

    assert resolve_placement("cuda", "fp16", language_model_type="t5").dtype == torch.float32
    assert resolve_placement("cuda", "bf16", language_model_type="opt").dtype == torch.float16


def test_int4_is_nf4_with_a_half_compute_dtype(fake_gpu: pytest.MonkeyPatch) -> None:
    placement = resolve_placement("cuda:0", "int4", language_model_type="opt")

    kwargs = placement.from_pretrained_kwargs()
    quantization = kwargs["quantization_config"]
    assert quantization.load_in_4bit and quantization.bnb_4bit_quant_type == "nf4"
    assert quantization.bnb_4bit_compute_dtype == torch.float16
    assert kwargs["device_map"] == {"": 0}


def test_int8_loads_in_8bit_on_the_gpu(fake_gpu: pytest.MonkeyPatch) -> None:
    kwargs = resolve_placement("cuda:0", "int8", language_model_type="t5").from_pretrained_kwargs()

    assert kwargs["quantization_config"].load_in_8bit
    assert kwargs["dtype"] == torch.bfloat16


def test_quantisation_without_bitsandbytes_says_what_to_install(fake_gpu: pytest.MonkeyPatch) -> None:
    fake_gpu.setattr(loading.importlib.util, "find_spec", lambda name, *args: None)

    with pytest.raises(ModelLoadError, match="bitsandbytes"):
        resolve_placement("cuda", "int8", language_model_type="opt")


def test_an_unknown_device_is_a_clear_error() -> None:
    with pytest.raises(ModelLoadError, match="unknown device"):
        resolve_placement("gpu0", "fp32", language_model_type="opt")
