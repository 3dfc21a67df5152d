"""The byte-bounded LRU behind the engine's per-photo memories."""

from __future__ import annotations

import pytest
import torch

from inference.embedding_cache import ByteLRU, tensor_bytes


def test_evicts_the_least_recently_used_once_over_budget_in_bytes() -> None:
    cache: ByteLRU[str] = ByteLRU(max_bytes=100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # now "b" is the least recently used

    cache.put("c", "C", 40)

    assert "b" not in cache
    assert (cache.get("a"), cache.get("c")) == ("A", "C")
    assert cache.nbytes == 80
    assert cache.stats.evictions == 1


def test_one_large_entry_can_evict_several_small_ones() -> None:
    cache: ByteLRU[int] = ByteLRU(max_bytes=100)
    for n in range(5):
        cache.put(n, n, 20)

    cache.put("big", -1, 90)

    assert list(cache._entries) == ["big"]
    assert cache.nbytes == 90


def test_replacing_a_key_counts_its_new_size_only() -> None:
    cache: ByteLRU[str] = ByteLRU(max_bytes=100)
    cache.put("a", "small", 10)
    cache.put("a", "larger", 60)

    assert cache.nbytes == 60
    assert len(cache) == 1
    assert cache.get("a") == "larger"


def test_a_value_larger_than_the_budget_is_not_kept_and_drops_the_old_one() -> None:
    cache: ByteLRU[str] = ByteLRU(max_bytes=100)
    cache.put("a", "old", 10)
    cache.put("b", "kept", 10)

    cache.put("a", "huge", 101)

    assert "a" not in cache
    assert cache.get("b") == "kept"
    assert cache.nbytes == 10


def test_a_zero_budget_keeps_nothing() -> None:
    cache: ByteLRU[str] = ByteLRU.from_mb(0)
    cache.put("a", "A", 1)

    assert not cache.enabled
    assert cache.get("a") is None
    assert cache.stats.misses == 1


def test_budget_in_megabytes_and_tensor_sizes() -> None:
    cache: ByteLRU[torch.Tensor] = ByteLRU.from_mb(1)
    features = torch.zeros(32, 2560, dtype=torch.float16)

    assert cache.max_bytes == 1024 * 1024
    assert tensor_bytes(features) == 32 * 2560 * 2
    with pytest.raises(ValueError, match="max_bytes"):
        ByteLRU(-1)
