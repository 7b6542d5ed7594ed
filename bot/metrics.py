"""Prometheus metrics for operators: queue, jobs in flight, stage seconds, workers."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

QUEUE = Gauge("immu_queue_jobs", "Jobs accepted and waiting for a composer")
IN_FLIGHT = Gauge("immu_jobs_in_flight", "Jobs being composed now")
WORKERS = Gauge("immu_workers_alive", "Composers (GPU lanes or Ray workers) known alive")
JOBS = Counter("immu_jobs_total", "Jobs finished, by outcome", ["outcome"])
STAGE_SECONDS = Histogram(
    "immu_stage_seconds",
    "Seconds per pipeline stage",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)


def serve(host: str, port: int) -> None:
    start_http_server(port, addr=host)
    log.info("metrics listening host=%s port=%d", host, port)
