"""The warm pipeline cache, keyed by load key (see :mod:`dw_lsp.worker.loading.loadkey`).

Not keyed by file or step name: two workflows (or two steps) whose pipelines resolve to the
same load key share one loaded pipeline, and several workflows stay warm at once. Each entry
remembers the labels (``step@file``) that used it and the bytes of its tensors. Shared
components are not stored here: a run publishes them from the loaded object, reused or not
(dw's bug 5.1.8 cannot happen). Eviction (:meth:`pop_lru`) is least-recently-used; the runtime
drives it by measured free memory, never by a count. Thread-safe: ``memoryStatus`` reads it
while a run changes it.

Imports nothing heavy; never the transport.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CachedPipeline:
    key: str
    pipeline: Any
    labels: list[str]
    nbytes: int = 0
    load_seconds: float = 0.0
    last_used: float = field(default_factory=time.monotonic)

    @property
    def label(self) -> str:
        return self.labels[0] if self.labels else self.key[:12]


class PipelineCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[str, CachedPipeline] = OrderedDict()
        self._owner_of_label: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str, label: str) -> CachedPipeline | None:
        """The entry for ``key`` (marked most recently used and tagged with ``label``)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            entry.last_used = time.monotonic()
            self._tag(entry, label)
            return entry

    def put(self, entry: CachedPipeline) -> None:
        with self._lock:
            self._entries[entry.key] = entry
            self._entries.move_to_end(entry.key)
            for label in list(entry.labels):
                self._tag(entry, label)

    def _tag(self, entry: CachedPipeline, label: str) -> None:
        if label not in entry.labels:
            entry.labels.append(label)
        self._owner_of_label[label] = entry.key

    def superseded(self, label: str, new_key: str) -> CachedPipeline | None:
        """The entry this label used before, if it now needs another one and nobody else
        (no other label) still uses it: that entry should be released."""
        with self._lock:
            old_key = self._owner_of_label.get(label)
            if old_key is None or old_key == new_key:
                return None
            entry = self._entries.get(old_key)
            if entry is None:
                return None
            others = [
                x for x in entry.labels if x != label and self._owner_of_label.get(x) == old_key
            ]
            if others:
                entry.labels.remove(label)
                return None
            return entry

    def remove(self, key: str) -> CachedPipeline | None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                for label in entry.labels:
                    if self._owner_of_label.get(label) == key:
                        del self._owner_of_label[label]
            return entry

    def clear(self) -> list[CachedPipeline]:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            self._owner_of_label.clear()
            return entries

    def pop_lru(self, protected: set[str]) -> CachedPipeline | None:
        """Remove and return the least recently used entry whose key is not ``protected``."""
        with self._lock:
            victim = next((e for k, e in self._entries.items() if k not in protected), None)
        if victim is not None:
            self.remove(victim.key)
        return victim

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def labels(self) -> list[str]:
        with self._lock:
            return [label for e in self._entries.values() for label in e.labels]

    def pipelines(self) -> list[Any]:
        with self._lock:
            return [e.pipeline for e in self._entries.values()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
