"""Prometheus metrics of the server, in a registry of its own (several servers can live in one process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)


class Metrics:
    """Requests by route and status, queue depth, batch sizes, tokens per batch and latencies."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "sbert_requests", "HTTP requests by route and status", ["route", "status"], registry=registry
        )
        self.request_seconds = Histogram(
            "sbert_request_duration_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge("sbert_requests_in_flight", "requests admitted and not yet answered", registry=registry)
        self.queue_depth = Gauge("sbert_queue_depth", "requests waiting for the encode worker", registry=registry)
        self.queue_seconds = Histogram(
            "sbert_queue_wait_seconds", "time from queueing to encoding", buckets=LATENCY_BUCKETS, registry=registry
        )
        self.batch_size = Histogram(
            "sbert_batch_size", "texts per forward pass", buckets=SIZE_BUCKETS, registry=registry
        )
        self.batch_tokens = Histogram(
            "sbert_batch_tokens", "padded tokens per forward pass", buckets=TOKEN_BUCKETS, registry=registry
        )
        self.batch_requests = Histogram(
            "sbert_batch_requests", "requests per engine call", buckets=SIZE_BUCKETS, registry=registry
        )
        self.encode_seconds = Histogram(
            "sbert_encode_duration_seconds", "time of one engine call", buckets=LATENCY_BUCKETS, registry=registry
        )
        self.texts = Counter("sbert_texts", "texts encoded", registry=registry)
        self.tokens = Counter("sbert_tokens", "tokens encoded (with the model's tokenizer)", registry=registry)
        self.failures = Counter("sbert_encode_failures", "requests answered 500 by a failed batch", registry=registry)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request."""
        self.requests.labels(route, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def observe_forward(self, texts: int, padded_tokens: int) -> None:
        """Record one forward pass."""
        self.batch_size.observe(texts)
        self.batch_tokens.observe(padded_tokens)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
