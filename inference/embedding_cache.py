"""A least-recently-used store of tensors bounded in bytes, for what the engine remembers per photo.

The BLIP-2 engine keeps two of these, keyed by the photo's content hash: the projected Q-Former
output (so a follow-up question skips the vision tower) and the key/value prefix of the photo's
latest conversation (so it skips re-reading the turns it already read). Each has its own budget
(the engine sizes the second from a count of tokens); a budget of 0 disables one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch

V = TypeVar("V")

BYTES_PER_MB = 1024 * 1024


def tensor_bytes(*tensors: torch.Tensor) -> int:
    """Bytes the tensors' elements take (views of one storage are counted once each)."""
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass(slots=True)
class CacheStats:
    """Counters for the logs and the benchmark."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0


class ByteLRU(Generic[V]):
    """Key -> value, evicting the least recently used entries once their bytes pass `max_bytes`.

    The caller says how many bytes each value takes. A value larger than the whole budget is not
    kept (it would evict everything and then itself). Safe to share between threads: the worker's
    generation thread and a preprocessing thread may both use it.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 or more, got {max_bytes}")
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def from_mb(cls, megabytes: float) -> ByteLRU[V]:
        return cls(int(megabytes * BYTES_PER_MB))

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable) -> V | None:
        """The value stored under `key`, now the most recently used, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.stats.misses += 1
                return None
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: V, nbytes: int) -> None:
        """Store `value` under `key` (replacing what was there), then evict down to the budget."""
        with self._lock:
            self._discard(key)
            if nbytes > self.max_bytes:
                return
            self._entries[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._discard(oldest)
                self.stats.evictions += 1

    def pop(self, key: Hashable) -> V | None:
        """Remove and return the value under `key`, or None."""
        with self._lock:
            entry = self._entries.get(key)
            self._discard(key)
            return None if entry is None else entry[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _discard(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1]
