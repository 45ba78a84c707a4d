"""Business figures: counters this process keeps, and the same as CloudWatch embedded metrics.

`count("Bookings")` adds to this process's counters (what `GET /admin/figures` answers: local
and per instance, one Lambda's view in AWS) and to the figures of the current invocation, which
`flush()` writes once per invocation as CloudWatch embedded metrics through Powertools Metrics
(namespace `Timebok`, one dimension: `stack`, the deployed stack's name, which the alarms and
the dashboard of infra/stack.yaml name too; the stage rides along as a property). Powertools is
imported only by `flush()`, and only when there is something to write on a deployed stage:
routes that count nothing never load it (tests/test_metrics.py; scripts/bench measures cold
starts).

Names (`COUNTERS`, `GAUGES`; the dashboard and alarms in infra/stack.yaml use the same): Holds,
Bookings, LostRaces, Throttled, ConflictsRetried, ConflictsSpent, RelayLagSeconds, and the
waiting room's QueueLength and Admitted (`queue_figures`).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from chalicelib import clock, settings

__all__ = ["COUNTERS", "GAUGES", "Figures", "answered", "count", "flush", "gauge", "queue_figures", "relay_lag"]

NAMESPACE = "Timebok"
COUNTERS = (
    *("Holds", "Bookings", "LostRaces", "Throttled", "ConflictsRetried", "ConflictsSpent", "Admitted"),
    *("SmsSent", "SmsRefused"),
)
GAUGES = ("QueueLength", "RelayLagSeconds")

_lock = threading.Lock()
_totals: Counter[str] = Counter()  # since this process started
_pending: Counter[str] = Counter()  # since the last flush: this invocation's
_gauges: dict[str, float] = {}  # the latest value (relay lag, queue length)
_pending_gauges: dict[str, float] = {}
_started = clock.monotonic()


def count(name: str, value: int = 1) -> None:
    """Add to a business counter (cheap: no I/O, no import)."""
    with _lock:
        _totals[name] += value
        _pending[name] += value


def gauge(name: str, value: float) -> None:
    """Record the latest value of a level (seconds of relay lag, citizens in line)."""
    with _lock:
        _gauges[name] = value
        _pending_gauges[name] = value


def queue_figures(length: int, admitted: int) -> None:
    """The waiting room's one call: citizens in line now, and how many it just admitted."""
    gauge("QueueLength", length)
    if admitted:
        count("Admitted", admitted)


# What an answer means for the business: (view, status) or an error code -> the figure it adds to.
_BY_VIEW = {("create_hold", 201): "Holds", ("create_appointment", 201): "Bookings"}
_LOST = frozenset({"slot_unavailable", "hold_gone"})  # a place someone else got first


def answered(view: str, status: int, code: str | None) -> None:
    """One API answer, counted where it is a business figure (http/handlers.py calls it)."""
    if (name := _BY_VIEW.get((view, status))) is not None:
        count(name)
    elif status == 429:
        count("Throttled")
    elif code in _LOST:
        count("LostRaces")


def relay_lag(seconds: float) -> None:
    """How long the oldest record of a relayed batch waited after its write (the stream's lag)."""
    gauge("RelayLagSeconds", round(max(seconds, 0.0), 3))


@dataclass(frozen=True, eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class Figures:
    """One process's figures: every counter (0 until counted), the levels seen so far."""

    seconds: float  # since it started counting
    counters: dict[str, int]
    gauges: dict[str, float]


def snapshot() -> Figures:
    """This process's figures since it started (GET /admin/figures)."""
    with _lock:
        counters = {name: _totals.get(name, 0) for name in COUNTERS} | dict(_totals)
        return Figures(round(clock.monotonic() - _started, 1), counters, dict(_gauges))


def flush() -> None:
    """Write this invocation's figures as embedded metrics (a deployed stage only; locally the
    figures stay in the counters, the console is for request lines)."""
    with _lock:
        counts, levels = dict(_pending), dict(_pending_gauges)
        _pending.clear()
        _pending_gauges.clear()
    if not (counts or levels) or settings.get().stage == "local":
        return
    emit(counts, levels)


def emit(counts: dict[str, int], levels: dict[str, float]) -> None:
    """One EMF document through Powertools Metrics (printed to stdout; CloudWatch Logs turns it
    into metrics)."""
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    current = settings.get()
    provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE)  # no service: `stack` is the one dimension
    provider.add_dimension(name="stack", value=current.stack_name or f"{current.service}-{current.stage}")
    provider.add_metadata(key="stage", value=current.stage)
    for name, value in counts.items():
        provider.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for name, value in levels.items():
        unit = MetricUnit.Seconds if name.endswith("Seconds") else MetricUnit.Count
        provider.add_metric(name=name, unit=unit, value=value)
    provider.flush_metrics()


def reset() -> None:
    """Tests: start counting from nothing."""
    global _started
    with _lock:
        _totals.clear()
        _pending.clear()
        _gauges.clear()
        _pending_gauges.clear()
        _started = clock.monotonic()
