"""The memory estimate loading checks first, and what a first start says while it downloads.

Nothing here needs the memory it talks about: parameters are counted on the meta device, and the
memory available is passed in (or a fake /proc/meminfo, or a patched CUDA query).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.utils import are_progress_bars_disabled
from transformers import Blip2Config, Blip2ForConditionalGeneration, OPTConfig
from transformers.utils import logging as hf_logging

from inference.bench.random_model import blip2_config
from inference.loading import ModelLoadError, has_weights, needs_download, read_config
from inference.memory import (
    BYTES_PER_PARAMETER,
    MemoryNeed,
    available_memory,
    checkpoint_bytes,
    count_parameters,
    ensure_fits,
    meminfo_available,
    memory_need,
)
from inference.model import load_engine

CPU = torch.device("cpu")
GB = 10**9


def huge_blip2(directory: Path) -> Path:
    """A config.json (and no weights) for a BLIP-2 with an OPT of about 200 billion parameters."""
    text = OPTConfig(
        hidden_size=12288, word_embed_proj_dim=12288, ffn_dim=49152, num_hidden_layers=110,
        num_attention_heads=96, vocab_size=50272,
    )  # fmt: skip
    Blip2Config(text_config=text.to_dict()).save_pretrained(directory)
    return directory


def test_parameters_are_counted_from_the_config_as_loading_finds_them(tiny_blip2_dir: Path) -> None:
    loaded = Blip2ForConditionalGeneration.from_pretrained(tiny_blip2_dir)

    assert count_parameters(read_config(str(tiny_blip2_dir))) == sum(p.numel() for p in loaded.parameters())


def test_blip2_opt_2_7b_is_sized_without_its_weights() -> None:
    parameters = count_parameters(blip2_config("full"))  # the real checkpoint's architecture

    assert 3.7e9 < parameters < 3.9e9


@pytest.mark.parametrize(("precision", "runs_as"), [("fp16", "fp32"), ("bf16", "fp32"), ("fp32", "fp32")])
def test_the_cpu_estimate_is_for_fp32_as_the_loader_runs_it(tiny_blip2_dir, precision, runs_as) -> None:
    need = memory_need("tiny", read_config(str(tiny_blip2_dir)), device=CPU, precision=precision)

    assert need.precision == runs_as
    assert need.weights_bytes == need.parameters * 4
    assert need.weights_bytes < need.needed_bytes < need.weights_bytes * 1.2


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "int8", "int4"])
def test_a_gpu_estimate_follows_the_precision(precision: str) -> None:
    need = MemoryNeed("m", torch.device("cuda:0"), precision, 1_000_000_000)

    assert need.weights_bytes == BYTES_PER_PARAMETER[precision] * GB


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="precision"):
        memory_need("m", blip2_config("tiny"), device=CPU, precision="fp8")


def test_a_model_that_fits_passes() -> None:
    ensure_fits(MemoryNeed("m", CPU, "fp32", 1_000_000), available_bytes=GB)
    ensure_fits(MemoryNeed("m", CPU, "fp32", 10**12), available_bytes=None)  # unknown: not refused


def test_a_model_too_big_for_the_machine_is_one_line_with_what_to_do() -> None:
    need = memory_need("Salesforce/blip2-opt-2.7b", blip2_config("full"), device=CPU, precision="fp16")

    with pytest.raises(ModelLoadError) as caught:
        ensure_fits(need, available_bytes=int(7.9 * GB))

    assert str(caught.value) == (
        "Salesforce/blip2-opt-2.7b in fp32 needs about 16.5 GB of memory; this machine has 7.9 GB "
        "available. Use a GPU (precision fp16, int8 or int4), or a smaller model."
    )


def test_a_model_too_big_for_the_gpu_suggests_the_smaller_precisions() -> None:
    need = MemoryNeed("blip2-opt-2.7b", torch.device("cuda:0"), "fp16", 3_744_761_856)

    with pytest.raises(ModelLoadError) as caught:
        ensure_fits(need, available_bytes=6 * GB)

    assert str(caught.value) == (
        "blip2-opt-2.7b in fp16 needs about 8.2 GB of GPU memory; cuda:0 has 6.0 GB free. "
        "Use precision int8 or int4, or a smaller model."
    )


def test_loading_refuses_before_reading_weights_when_memory_is_short(tiny_blip2_dir: Path) -> None:
    asked: list[torch.device] = []

    def one_kilobyte(device: torch.device) -> int:
        asked.append(device)
        return 1000

    with pytest.raises(ModelLoadError, match=r"needs about \d+ MB of memory; this machine has 0 MB"):
        load_engine(str(tiny_blip2_dir), device="cpu", memory=one_kilobyte)
    assert asked == [CPU]


def test_a_model_no_machine_can_hold_is_refused_with_the_real_reading(tmp_path: Path) -> None:
    # The directory has no weights: the memory check must come first to say anything else.
    with pytest.raises(ModelLoadError, match=r"in fp32 needs about \d+\.\d GB of memory; this machine has"):
        load_engine(str(huge_blip2(tmp_path)), device="cpu")


def test_meminfo_available_reads_linux_memavailable(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree:  1000 kB\nMemAvailable:    8000000 kB\n")

    assert meminfo_available(meminfo) == 8_000_000 * 1024
    assert meminfo_available(tmp_path / "absent") is None


def test_gpu_memory_is_what_cuda_reports_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (5 * GB, 80 * GB))

    assert available_memory(torch.device("cuda:0")) == 5 * GB


def test_the_download_size_follows_the_saved_dtype() -> None:
    config = blip2_config("tiny")
    assert checkpoint_bytes(config, 1000) == 4000  # unstated: fp32
    config.dtype = "float16"
    assert checkpoint_bytes(config, 1000) == 2000


# first start: is there a download, and does it show progress


def hub_cache(root: Path, repo: str, files: dict[str, str]) -> Path:
    """A Hugging Face cache holding `files` of `repo` at one snapshot, as the hub lays it out."""
    folder = root / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0" * 40)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "downloads"),
    [
        ({}, True),
        ({"config.json": "{}"}, True),
        ({"config.json": "{}", "model.safetensors": "w"}, False),
        (
            {"config.json": "{}", "model.safetensors.index.json": json.dumps({"weight_map": {"a": "1.st"}})},
            True,
        ),
        (
            {
                "config.json": "{}",
                "model.safetensors.index.json": json.dumps({"weight_map": {"a": "1.st", "b": "2.st"}}),
                "1.st": "w",
                "2.st": "w",
            },
            False,
        ),
    ],
    ids=["nothing", "config-only", "weights", "missing-shard", "all-shards"],
)
def test_a_hub_model_downloads_unless_its_weights_are_cached(tmp_path, monkeypatch, files, downloads) -> None:
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hub_cache(tmp_path, "org/model", files)))

    assert needs_download("org/model") is downloads


def test_a_local_directory_never_downloads(tiny_blip2_dir: Path) -> None:
    assert not needs_download(str(tiny_blip2_dir))
    assert has_weights(tiny_blip2_dir)


def test_a_first_start_says_what_it_downloads_before_fetching(
    tiny_blip2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = (tiny_blip2_dir / "config.json").read_text()
    monkeypatch.setattr(
        hub_constants, "HF_HUB_CACHE", str(hub_cache(tmp_path, "org/tiny", {"config.json": config}))
    )
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # the weights' fetch fails at once

    with caplog.at_level(logging.INFO, logger="inference.model"), pytest.raises(ModelLoadError):
        load_engine("org/tiny", device="cpu")

    [notice] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("downloading")]
    assert notice.startswith("downloading org/tiny (about ")
    assert notice.endswith(") from the Hugging Face hub; the first start takes a while")


def test_download_progress_bars_stay_on_and_loading_bars_off() -> None:
    if hub_constants.HF_HUB_DISABLE_PROGRESS_BARS is not None:
        pytest.skip("HF_HUB_DISABLE_PROGRESS_BARS is set in this environment and overrules both")

    for download in ("http_get", "xet_get", "snapshot_download", "snapshot_download.transfer"):
        assert not are_progress_bars_disabled(f"huggingface_hub.{download}")
    assert are_progress_bars_disabled()  # anything else of the hub's, such as uploads
    assert not hf_logging.is_progress_bar_enabled()  # transformers' own: loading the weights
