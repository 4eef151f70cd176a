"""``/metrics`` in Prometheus's text format (prometheus-client), in a registry of the service's own.

Counted as they happen: this process's cycles (by environment and result) and their durations,
and the API's requests. Read at each scrape: requests sent to each environment's server (the
connectors count them), and from the database, per environment, the persons, the failing
persons, the pending writes and the age of the newest cycle (so they hold whichever process
ran the cycles); and which environments are watched (webhooks or streaming) by this process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from roomsync.engine.report import CycleReport

if TYPE_CHECKING:
    from roomsync_web.service import WebService

disable_created_metrics()  # the *_created series double the output and say nothing to an operator
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _StateCollector(Collector):
    def __init__(self, service: WebService) -> None:
        self.service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        sent = CounterMetricFamily(
            "roomsync_exchange_requests", "Requests sent to Exchange by this process", labels=["environment"]
        )
        for environment, host in sorted(self.service.runner.hosts().items()):
            sent.add_metric([environment], host.connector.requests_sent.value)
        yield sent
        persons = GaugeMetricFamily("roomsync_persons", "Persons per environment", labels=["environment"])
        failing = GaugeMetricFamily(
            "roomsync_persons_failing", "Persons whose last cycle failed", labels=["environment"]
        )
        pending = GaugeMetricFamily(
            "roomsync_pending_writes", "Entries not yet in step with ROOMS", labels=["environment"]
        )
        age = GaugeMetricFamily(
            "roomsync_last_cycle_age_seconds", "Seconds since the newest cycle", labels=["environment"]
        )
        now = datetime.now(UTC)
        for name, figures in self.service.database.figures().items():
            label = [name or ""]
            persons.add_metric(label, figures.persons)
            failing.add_metric(label, figures.failing)
            pending.add_metric(label, figures.pending)
            if figures.last_attempt is not None:
                age.add_metric(label, (now - figures.last_attempt).total_seconds())
        yield from (persons, failing, pending, age)
        watching = GaugeMetricFamily(
            "roomsync_watched_mailboxes",
            "Mailboxes this process watches for changes (webhooks, streaming, pull)",
            labels=["environment"],
        )
        for environment in self.service.settings.environments:
            watching.add_metric([environment], self.service.watching.get(environment, 0))
        yield watching


class Metrics:
    def __init__(self, service: WebService) -> None:
        self.registry = CollectorRegistry()
        self.cycles = Counter(
            "roomsync_cycles",
            "Cycles run by this process",
            ["environment", "result"],
            registry=self.registry,
        )
        self.cycle_seconds = Histogram(
            "roomsync_cycle_duration_seconds",
            "Duration of a person's cycle",
            ["environment"],
            buckets=CYCLE_BUCKETS,
            registry=self.registry,
        )
        self.api_requests = Counter(
            "roomsync_api_requests",
            "Requests to the web service",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.api_seconds = Histogram(
            "roomsync_api_request_duration_seconds", "Time to answer", ["route"], registry=self.registry
        )
        self.registry.register(_StateCollector(service))

    def cycle(self, report: CycleReport) -> None:
        result = "skipped" if report.skipped else "ok" if report.ok else "failed"
        environment = report.environment or ""
        self.cycles.labels(environment, result).inc()
        if not report.skipped:
            self.cycle_seconds.labels(environment).observe(report.seconds)

    def request(self, method: str, route: str, status: int, started: float) -> None:
        self.api_requests.labels(method, route, str(status)).inc()
        self.api_seconds.labels(route).observe(time.perf_counter() - started)

    def text(self) -> bytes:
        return generate_latest(self.registry)
