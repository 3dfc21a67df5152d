"""`GET /metrics`, in Prometheus' text format (prometheus-client).

Each app has its own registry, so two apps in one process (tests) never share counters. Request
counts are labelled by route template, not path, so prediction ids never become label values.
Batch sizes and cache hits are read from the in-process worker and model when the scrape comes;
with the networked queue they live on the workers, and are not reported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

#: Seconds: from well under the hosted APIs' ~2 s to the request timeout.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


class ApiMetrics:
    """The API's counters and histograms, registered in its own registry."""

    def __init__(self, queue: Any) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "blipbot_http_requests",
            "HTTP requests answered, by method, route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "blipbot_predictions",
            "Predictions finished, by final status.",
            ["status"],
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "blipbot_queue_wait_seconds",
            "How long a prediction's requests waited for the model.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predict_time = Histogram(
            "blipbot_predict_time_seconds",
            "How long a prediction took, from its photo being read to its output.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_WorkerCollector(queue))


class _WorkerCollector(Collector):
    """Batch sizes and cache hits, read off the in-process worker and its model at scrape time."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        sizes = getattr(self.queue, "batch_sizes", None)
        if sizes is not None:
            batches = CounterMetricFamily(
                "blipbot_batches", "Batched generations run, by how many requests each held.", labels=["size"]
            )
            for size, count in sorted(sizes.items()):
                batches.add_metric([str(size)], count)
            yield batches
        engine = getattr(self.queue, "engine", None)
        caches = [(name, getattr(engine, name, None)) for name in ("features", "prefixes")]
        found = [(name, cache) for name, cache in caches if cache is not None and hasattr(cache, "stats")]
        if found:
            hits = CounterMetricFamily(
                "blipbot_cache_hits",
                "Photo features and conversation prefixes found cached.",
                labels=["cache"],
            )
            misses = CounterMetricFamily(
                "blipbot_cache_misses",
                "Photo features and conversation prefixes computed anew.",
                labels=["cache"],
            )
            for name, cache in found:
                hits.add_metric([name], cache.stats.hits)
                misses.add_metric([name], cache.stats.misses)
            yield hits
            yield misses

    def describe(self) -> list[Metric]:
        return []  # collected only when scraped: nothing to check at registration
