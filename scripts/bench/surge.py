"""Part 2: a surge, many more citizens than places, over HTTP against a live local stack, with
"first available" holds or everyone holding the earliest slot; the table checked afterwards.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

# ---- 2. surge over HTTP --------------------------------------------------------------------------
from typing import Any

from scripts.bench.capacity import (
    HEADROOM,
    TARGET_BOOKINGS_PER_SECOND,
    CapacityCalculator,
    MotoTables,
    over_table_maximum,
    partition_model,
    per_booking,
    stack_load,
    table_load,
)
from scripts.bench.common import REGION, citizen, forget_aws_clients, free_port, quiet_logs, token_for
from scripts.bench.counter import DynamoCounter, other_aws, requests_of, total_requests

DAY_STARTS, DAY_ENDS = 8 * 60, 23 * 60 + 55  # minutes: a schedule's times stay within one day
MAX_SLOTS_PER_DAY = (DAY_ENDS - DAY_STARTS) // 5


@dataclass(frozen=True)
class SurgeSize:
    """How big one surge is (command line: --citizens, --places, --capacity, --threads)."""

    citizens: int
    places: int
    capacity: int
    threads: int
    readers: int = 0  # threads reloading the calendar and the day view while the surge runs
    # Seconds a reader waits after loading both views (0: it reloads as fast as it is served).
    # The bench's readers share this process and its two cores with the stack they read from, where
    # in AWS the CDN answers them: an unpaced reader measures this machine's CPU, a paced one what
    # people reloading take from the bookings (issue 20's drill saw 6.6 views/s from 4 readers).
    reader_pause: float = 0.0

    @property
    def slots(self) -> int:
        return math.ceil(self.places / self.capacity)

    @property
    def slot_minutes(self) -> int:
        return 15 if self.slots <= 48 else 5  # one day, one location: the hottest case

    def problem(self) -> str | None:
        """Why this surge cannot be set up, or None. Its slots are one day's, 08:00 to at most
        23:55 (the day's last start time), so there is room for MAX_SLOTS_PER_DAY of them."""
        if self.slots <= MAX_SLOTS_PER_DAY:
            return None
        least = math.ceil(self.places / MAX_SLOTS_PER_DAY)
        return (
            f"--places {self.places} at --capacity {self.capacity} needs {self.slots} slots, but the surge's one day "
            f"holds at most {MAX_SLOTS_PER_DAY} five-minute slots (08:00-23:55): use --capacity {least} or more, "
            f"or at most {MAX_SLOTS_PER_DAY * self.capacity} places"
        )


@dataclass
class Answer:
    """What one HTTP call got: a status (0 = the client gave up: timeout or connection error)."""

    status: int
    body: Any
    headers: Mapping[str, str]
    seconds: float

    def json(self) -> Any:
        return self.body


class Http:
    """Calls to 127.0.0.1 only, each client thread on its own kept-alive connection (as a browser);
    a client timeout is an answer (status 0), never an exception.

    A `requests.Session` per thread: a new session and connection per call cost the bench's own
    threads (in the stack's process) about as much CPU as the call they measured. A dropped
    connection is opened again on the thread's next call.
    """

    TIMEOUT_SECONDS = 30.0

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._local = threading.local()

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests
            from requests.adapters import HTTPAdapter

            session = self._local.session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        return session

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None, token: str | None) -> Answer:
        return self.request(method, path, body, {"Authorization": f"Bearer {token}"} if token else {})

    def request(self, method: str, path: str, body: Mapping[str, Any] | None, headers: Mapping[str, str]) -> Answer:
        """Any call with these headers (e.g. the waiting room's ticket beside the token)."""
        import requests

        started = time.monotonic()
        try:
            response = self._session().request(
                method, f"{self.base_url}{path}", json=body, headers=dict(headers), timeout=self.TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            self._session().close()
            self._local.session = None  # the next call starts on a new connection
            return Answer(0, {"client_error": type(error).__name__}, {}, time.monotonic() - started)
        try:
            parsed = response.json()
        except ValueError:
            parsed = {"text": response.text[:200]}
        return Answer(response.status_code, parsed, dict(response.headers), time.monotonic() - started)

    def get(self, path: str) -> Answer:
        return self._call("GET", path, None, None)

    def post(self, path: str, body: Mapping[str, Any], token: str) -> Answer:
        return self._call("POST", path, body, token)


def make_surge_timebook(http: Http, her_id: str, size: SurgeSize) -> tuple[str, str]:
    """A fresh timebook through the admin API: one day, one location, `size.slots` slots."""
    if (problem := size.problem()) is not None:
        raise ValueError(problem)
    from chalicelib import clock
    from tests.factories import make_pid

    staff = token_for(make_pid(9000), "staff", "Bench Staff", orgs=[her_id])

    def post(path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        for _ in range(20):
            answer = http.post(path, body, staff)
            if answer.status == 201:
                return dict(answer.body)
            if answer.status not in (0, 429):
                break
            time.sleep(1.0)
        raise RuntimeError(f"set-up {path} answered {answer.status}: {str(answer.body)[:300]}")

    contact = post("/admin/health-contacts", {"organisation": "Benchkommune", "service": "Surge", "her_id": her_id})
    timebook = post(
        "/admin/timebooks",
        {
            "health_contact_id": contact["id"],
            "name": "Koronatest",
            "type": "koronatest",
            "resource": {"name": "Surge"},
            "requires_confirmation": False,
        },
    )
    location = post(f"/admin/timebooks/{timebook['id']}/locations", {"name": "Stasjon", "address": "Gaten 1"})
    day = clock.local(clock.now()).date() + timedelta(days=7)
    minutes = size.slots * size.slot_minutes
    made = post(
        f"/admin/timebooks/{timebook['id']}/schedules",
        {
            "location_id": location["id"],
            "from": day.isoformat(),
            "to": day.isoformat(),
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "start_time": "08:00",
            "end_time": f"{8 + minutes // 60:02d}:{minutes % 60:02d}",
            "slot_minutes": size.slot_minutes,
            "capacity": size.capacity,
        },
    )
    if made["created"] != size.slots:
        raise RuntimeError(f"expected {size.slots} slots, made {made['created']}")
    return timebook["id"], day.isoformat()


@dataclass
class SurgeOutcome:
    statuses: Counter[str] = field(default_factory=Counter)
    booked: list[str] = field(default_factory=list)  # slot ids of the appointments made
    booked_at: list[float] = field(default_factory=list)  # monotonic times of those bookings
    gave_up: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    retry_after_waits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, call: str, answer: Answer) -> None:
        with self.lock:
            self.statuses[f"{call} {answer.status}"] += 1
            self.latencies.setdefault(call, []).append(answer.seconds)
            if (answer.status >= 500 or answer.status == 0) and len(self.errors) < 5:
                self.errors.append(f"{call} {answer.status} {str(answer.body)[:200]}")

    def give_up(self, why: str) -> None:
        with self.lock:
            self.gave_up[why] += 1


def _no_free_time(answer: Answer) -> bool:
    """The first-available 409 that means "nothing left" (not "lost every race, try again")."""
    try:
        message = str(answer.body["error"]["message"])
    except (KeyError, TypeError):
        return False
    return message.lower().startswith("no free time")


SURGE_ATTEMPTS = 10  # per citizen, answers other than 429 and client timeouts: a citizen gives up too
SURGE_BACKOFFS = 40  # per citizen: 429s and client timeouts waited out before giving up


def _sold_out(mode: str, hold: Answer) -> bool:
    if mode == "first-available":
        return hold.status == 409 and _no_free_time(hold)
    return hold.status == 200 and hold.body == "sold out"  # the list of the day was empty


class _Citizen:
    """One citizen of a surge: hold, then book; honours Retry-After (with jitter) on 429."""

    def __init__(self, http: Http, mode: str, timebook_id: str, day: str, person: tuple[str, str, str]) -> None:
        self.http, self.mode, self.timebook_id, self.day = http, mode, timebook_id, day
        _, self.phone, self.token = person
        self.backoffs = 0

    def waited_out(self, answer: Answer, outcome: SurgeOutcome) -> bool:
        """A 429 or a client timeout: wait as told (Retry-After, jittered) and say so."""
        if answer.status not in (0, 429):
            return False
        import random

        self.backoffs += 1
        try:
            retry_after = float(answer.headers.get("Retry-After", "1"))
        except ValueError:
            retry_after = 1.0
        time.sleep(min(retry_after, 5.0) * random.uniform(0.5, 1.5))
        with outcome.lock:
            outcome.retry_after_waits += 1
        return True

    def run(self, outcome: SurgeOutcome) -> None:
        attempts = 0
        while attempts < SURGE_ATTEMPTS:
            if self.backoffs >= SURGE_BACKOFFS:
                outcome.give_up("throttled too often")
                return
            hold = self._hold(outcome)
            if hold is None:
                continue
            if self.waited_out(hold, outcome):
                continue
            attempts += 1
            if hold.status == 201:
                if self._book(hold.body["id"], outcome):
                    return
            elif _sold_out(self.mode, hold):
                outcome.give_up("sold out")
                return
        outcome.give_up("attempts used up")

    def _hold(self, outcome: SurgeOutcome) -> Answer | None:
        if self.mode == "first-available":
            hold = self.http.post("/holds", {"timebook_id": self.timebook_id}, self.token)
            outcome.saw("POST /holds {timebook_id}", hold)
            return hold
        listed = self.http.get(f"/timebooks/{self.timebook_id}/slots?date={self.day}")
        outcome.saw("GET /slots", listed)
        if self.waited_out(listed, outcome):
            return None
        items = listed.body.get("items", []) if listed.status == 200 else []
        if listed.status == 200 and not items:
            return Answer(200, "sold out", {}, 0.0)
        if not items:
            return None
        hold = self.http.post("/holds", {"slot_id": items[0]["id"]}, self.token)
        outcome.saw("POST /holds {slot_id}", hold)
        return hold

    def _book(self, hold_id: str, outcome: SurgeOutcome) -> bool:
        body = {"hold_id": hold_id, "phone": self.phone, "answers": {}}
        while self.backoffs < SURGE_BACKOFFS:
            made = self.http.post("/appointments", body, self.token)
            outcome.saw("POST /appointments", made)
            if self.waited_out(made, outcome):
                continue  # the hold lives on: the same booking again
            if made.status == 201:
                with outcome.lock:
                    outcome.booked.append(made.body["slot_id"])
                    outcome.booked_at.append(time.monotonic())
                return True
            return False
        return False


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _ms(seconds: float | None) -> float:
    return round(1000 * (seconds or 0.0), 1)


def check_table(timebook_id: str, day: str, size: SurgeSize) -> dict[str, Any]:
    """The invariants from the table itself (not from what clients were told): places given,
    none twice (two active appointments on one place, or more claims than a slot has places)."""
    from chalicelib.storage import repository

    slots = repository.slots_of_day(timebook_id, date.fromisoformat(day), consistent=True)
    claims = [(s.slot_id, place, c) for s in slots for place, c in s.claims.items()]
    given = [c for c in claims if c[2].kind == "appointment"]
    appointments = [a for a in repository.appointments_of_timebook(timebook_id) if a.status in ("booked", "requested")]
    per_place = Counter((a.slot_id, int(a.place)) for a in appointments)
    over = [s.slot_id for s in slots if sum(1 for c in claims if c[0] == s.slot_id) > int(s.capacity)]
    return {
        "slots": len(slots),
        "places_given": len(given),
        "active_appointments": len(appointments),
        "double_gives": sum(n - 1 for n in per_place.values() if n > 1) + len(over),
    }


VIEW_ROUTES = ("GET /timebooks/{id}/calendar", "GET /timebooks/{id}/slots")
PUBLISHER_LABEL = "publish availability"


def slowdown(without: Mapping[str, Any], with_readers: Mapping[str, Any]) -> float | None:
    """How many times longer the surge took to sell out with readers than the run before without
    them (issue 20's goal: at most 1.1); None when either did not sell out."""
    before, after = without.get("last_booking_seconds"), with_readers.get("last_booking_seconds")
    if not before or after is None or without.get("booked") != without.get("places"):
        return None
    if with_readers.get("booked") != with_readers.get("places"):
        return None
    return round(after / before, 2)


def _read_views(
    http: Http, timebook_id: str, day: str, outcome: SurgeOutcome, done: threading.Event, pause: float
) -> None:
    """A reader: the month's calendar and the day's times, again and again, until the surge is over."""
    paths = (f"/timebooks/{timebook_id}/calendar?month={day[:7]}", f"/timebooks/{timebook_id}/slots?date={day}")
    while not done.is_set():
        for path, call in zip(paths, ("GET /calendar (reader)", "GET /slots (reader)"), strict=True):
            outcome.saw(call, http.get(path))
        done.wait(pause)


def _readers_process(
    api_url: str, timebook_id: str, day: str, readers: int, pause: float, stop: Any, results: Any
) -> None:
    """The readers, in a process of their own (as people's browsers are elsewhere): their client
    work does not share the stack's interpreter lock, where each runnable thread stretches the
    serialised stand-in's critical section (a convoy, not CPU: a view costs ~1.3 ms). Their counts
    go back through `results` when `stop` is set."""
    outcome, done = SurgeOutcome(), threading.Event()
    http = Http(api_url)
    threads = [
        threading.Thread(target=_read_views, args=(http, timebook_id, day, outcome, done, pause), daemon=True)
        for _ in range(readers)
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    done.set()
    for thread in threads:
        thread.join(timeout=60)
    results.put((dict(outcome.statuses), outcome.latencies, outcome.errors))


def _start_readers(http: Http, timebook_id: str, day: str, size: SurgeSize) -> Callable[[SurgeOutcome], None]:
    """Start `size.readers` readers in their own process; the returned call stops them and adds
    their counts to the surge's outcome."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # not fork: this process runs the stack's threads
    stop, results = context.Event(), context.Queue()
    process = context.Process(
        target=_readers_process,
        args=(http.base_url, timebook_id, day, size.readers, size.reader_pause, stop, results),
        daemon=True,
    )
    process.start()

    def finish(outcome: SurgeOutcome) -> None:
        stop.set()
        statuses, latencies, errors = results.get(timeout=120)
        process.join(timeout=30)
        with outcome.lock:
            outcome.statuses.update(statuses)
            for call, values in latencies.items():
                outcome.latencies.setdefault(call, []).extend(values)
            outcome.errors.extend(errors[: max(0, 5 - len(outcome.errors))])

    return finish


_publisher_reader: Any = None  # one for the whole bench: its place in the stream carries over


def _publish_availability(done: threading.Event) -> None:
    """What `make run` and the stack do: slot changes on the table's stream to the published
    documents, every 0.5 s; its DynamoDB requests are counted under their own label. One reader
    serves every surge of a bench, as one stream mapping does: a reader made per surge started at
    the stream's beginning and first re-published every earlier surge's changes, which made each
    later surge's documents staler and its holds read twice the slots (bench runs compared order,
    not readers)."""
    import app as app_module
    from chalicelib import settings
    from chalicelib.booking.availability_docs import is_slot_change
    from chalicelib.local.stream import StreamReader
    from scripts.bench.counter import _route

    global _publisher_reader
    _route.label = PUBLISHER_LABEL
    table = settings.get().table_name
    if _publisher_reader is None or _publisher_reader.table_name != table:
        _publisher_reader = StreamReader(table, wanted=is_slot_change)
    reader = _publisher_reader
    while True:
        reader.drain(lambda event: app_module.publish_availability(event, None))
        if done.wait(0.5):
            reader.drain(lambda event: app_module.publish_availability(event, None))
            return


def run_surge(http: Http, counter: DynamoCounter, mode: str, her_id: str, size: SurgeSize, run: int) -> dict[str, Any]:
    timebook_id, day = make_surge_timebook(http, her_id, size)
    people = [citizen(100_000 * run + n) for n in range(size.citizens)]
    outcome = SurgeOutcome()
    standin = counter.standin
    shed_before = standin.app.shed if standin is not None and standin.app is not None else 0
    done = threading.Event()
    with counter.window() as tally:
        background = [threading.Thread(target=_publish_availability, args=(done,), daemon=True)]
        for thread in background:
            thread.start()
        stop_readers = _start_readers(http, timebook_id, day, size) if size.readers else None
        started = time.monotonic()
        with ThreadPoolExecutor(size.threads) as pool:
            list(pool.map(lambda p: _Citizen(http, mode, timebook_id, day, p).run(outcome), people))
        wall = time.monotonic() - started
        if stop_readers is not None:
            stop_readers(outcome)
        done.set()
        for thread in background:
            thread.join(timeout=60)
    shed = (standin.app.shed if standin is not None and standin.app is not None else 0) - shed_before
    table = check_table(timebook_id, day, size)
    booked = len(outcome.booked)
    hold_conflicts = int(sum(v for k, v in tally.items() if k == "err:UpdateItem:ConditionalCheckFailedException"))
    booking_cancels = int(tally.get("err:TransactWriteItems:TransactionCanceledException", 0))
    requests = total_requests(tally)
    by_route: dict[str, dict[str, int]] = {}
    for key, value in sorted(tally.items()):
        if key.startswith("route:"):
            _, route, operation = key.split(":")
            by_route.setdefault(route, {})[operation] = int(value)
    sold_out = max(outcome.booked_at) - started if outcome.booked_at else None
    statuses = outcome.statuses
    all_latencies = [s for values in outcome.latencies.values() for s in values]

    def count(predicate: Callable[[int], bool]) -> int:
        return sum(n for k, n in statuses.items() if predicate(int(k.rsplit(" ", 1)[1])))

    views = sum(n for k, n in statuses.items() if "(reader)" in k)
    view_requests = sum(sum(by_route.get(route, {}).values()) for route in VIEW_ROUTES)
    publisher_requests = sum(by_route.get(PUBLISHER_LABEL, {}).values())
    result = {
        "mode": mode,
        "run": run,
        "readers": size.readers,
        "views_served": views,
        "reader_pause_seconds": size.reader_pause,
        "views_per_second": round(views / wall, 1) if wall else None,
        "dynamodb_requests_per_view": round(view_requests / views, 3) if views else None,
        "publisher_dynamodb_requests": publisher_requests,
        "citizens": size.citizens,
        "places": size.places,
        "slots": size.slots,
        "capacity": size.capacity,
        "threads": size.threads,
        "booked": booked,
        "places_given_in_table": table["places_given"],
        "double_gives": table["double_gives"],
        "http_5xx": count(lambda s: s >= 500),
        "http_429": count(lambda s: s == 429),
        # What the stage's rate limit counts: every call of the citizens (losers and retries
        # included), not the readers' (in AWS the CDN answers those).
        "http_requests_per_booking": per_booking(sum(n for k, n in statuses.items() if "(reader)" not in k), booked),
        "client_timeouts": count(lambda s: s == 0),
        "retry_after_waits": outcome.retry_after_waits,
        "standin_shed": shed,
        "http_statuses": dict(sorted(statuses.items())),
        "gave_up": dict(outcome.gave_up),
        "server_errors": outcome.errors,
        "hold_condition_failures": hold_conflicts,
        "booking_transactions_cancelled": booking_cancels,
        "cancellation_reasons": {k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("cancel:")},
        "lost_races_per_booking": per_booking(hold_conflicts + booking_cancels, booked),
        "dynamodb_requests": requests,
        "dynamodb_requests_per_booking": per_booking(requests, booked),
        "rcu_per_booking": per_booking(tally.get("rcu", 0.0), booked),
        "wcu_per_booking": per_booking(tally.get("wcu", 0.0), booked),
        "dynamodb_requests_by_operation": requests_of(tally),
        "dynamodb_requests_by_route": by_route,
        "dynamodb_errors": {k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("err:")},
        "botocore_retries": int(tally.get("retries", 0)),
        "other_aws": other_aws(tally),
        "refused_non_local_requests": {
            k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("refused:")
        },
        "latency_p50_ms": _ms(_percentile(all_latencies, 0.5)),
        "latency_p95_ms": _ms(_percentile(all_latencies, 0.95)),
        "latency_by_call_ms": {
            call: {"p50": _ms(_percentile(v, 0.5)), "p95": _ms(_percentile(v, 0.95))}
            for call, v in sorted(outcome.latencies.items())
        },
        "wall_seconds": round(wall, 2),
        "last_booking_seconds": round(sold_out, 2) if sold_out is not None else None,
        "bookings_per_second": round(booked / sold_out, 1) if sold_out else None,
        "partition_model": {
            str(rate): [
                {"kind": m.kind, "key": m.key, "rcu_per_second": m.rcu_per_second, "wcu_per_second": m.wcu_per_second}
                for m in partition_model(tally, booked, rate)[:6]
            ]
            for rate in (TARGET_BOOKINGS_PER_SECOND, 1000)
        },
    }
    result["failed_checks"] = surge_failures(result)
    return result


def surge_failures(s: Mapping[str, Any]) -> list[str]:
    """The invariants a surge must keep; no wall-clock deadline (a slow machine is not a failure)."""
    failed = []
    if s["places_given_in_table"] != s["places"] or s["booked"] != s["places"]:
        failed.append(f"places given {s['places_given_in_table']} (told {s['booked']}) of {s['places']}")
    if s["double_gives"]:
        failed.append(f"{s['double_gives']} places given twice")
    if s["http_5xx"]:
        failed.append(f"{s['http_5xx']} answers 5xx")
    if s["refused_non_local_requests"]:
        failed.append(f"non-local AWS requests {s['refused_non_local_requests']}")
    return failed


def measure_surges(counter: DynamoCounter, size: SurgeSize, modes: list[str], repeat: int) -> list[dict[str, Any]]:
    from chalicelib.booking import common
    from chalicelib.local import runner
    from chalicelib.local.moto_server import MOTO_LOCK

    quiet_logs()
    os.environ.pop("AWS_ENDPOINT_URL", None)
    forget_aws_clients()
    global _publisher_reader
    stack = runner.start(free_port(), seed=False, workers=False)
    _publisher_reader = None  # a new stand-in: its stream from the start
    counter.local_endpoint = stack.endpoint_url
    counter.standin = stack.standin
    counter.calculator = CapacityCalculator(MotoTables(REGION, lock=MOTO_LOCK))
    surges = []
    try:
        common._timebooks.clear()
        http = Http(stack.api_url)
        # With readers, each run twice: without them, then with them (the throughput they cost).
        sizes = [replace(size, readers=0), size] if size.readers else [size]
        for run in range(repeat):
            for index, mode in enumerate(modes):
                for extra, sized in enumerate(sizes):
                    load = round(os.getloadavg()[0], 2)
                    number = 1 + (run * len(modes) + index) * len(sizes) + extra
                    surge = run_surge(http, counter, mode, f"7{run:02d}{index}{extra}", sized, number)
                    surge["load_average_1min_at_start"] = load
                    if sized.readers:
                        surge["slowdown_with_readers"] = slowdown(surges[-1], surge)
                    surges.append(surge)
                    print(
                        f"  surge {mode} #{run + 1} ({sized.readers} readers): {surge['booked']}/{surge['places']} "
                        f"booked, {surge['lost_races_per_booking']} lost races/booking, {surge['http_5xx']} 5xx, "
                        f"{surge['http_429']} 429, {surge['wall_seconds']} s, {surge['views_served']} views at "
                        f"{surge['dynamodb_requests_per_view']} DynamoDB requests each "
                        f"({surge['views_per_second']}/s), "
                        f"load {load}"
                        + (
                            f"; sold out {surge['slowdown_with_readers']}x later than without readers"
                            if sized.readers
                            else ""
                        ),
                        flush=True,
                    )
        return surges
    finally:
        counter.local_endpoint = None
        counter.standin = None
        counter.calculator = None
        stack.stop()


SUMMARY_ROWS: list[tuple[str, str]] = [
    ("bookings made", "booked"),
    ("places given (from the table)", "places_given_in_table"),
    ("double gives", "double_gives"),
    ("lost races per booking", "lost_races_per_booking"),
    ("hold condition failures", "hold_condition_failures"),
    ("booking transactions cancelled", "booking_transactions_cancelled"),
    ("DynamoDB requests per booking", "dynamodb_requests_per_booking"),
    ("RCU per booking", "rcu_per_booking"),
    ("WCU per booking", "wcu_per_booking"),
    ("answers 5xx", "http_5xx"),
    ("answers 429", "http_429"),
    ("client timeouts", "client_timeouts"),
    ("stand-in requests shed", "standin_shed"),
    ("botocore retries", "botocore_retries"),
    ("latency p50 (ms, all calls)", "latency_p50_ms"),
    ("latency p95 (ms, all calls)", "latency_p95_ms"),
    ("views served (readers)", "views_served"),
    ("DynamoDB requests per view", "dynamodb_requests_per_view"),
    ("publisher's DynamoDB requests", "publisher_dynamodb_requests"),
    ("bookings per second", "bookings_per_second"),
    ("wall time (s)", "wall_seconds"),
    ("last booking after (s)", "last_booking_seconds"),
]


def _spread(values: list[Any]) -> str:
    numbers = [v for v in values if isinstance(v, int | float)]
    if not numbers:
        return "-"
    low, mid, high = min(numbers), statistics.median(numbers), max(numbers)
    return f"{low:g} / {mid:g} / {high:g}"


def print_surges(surges: list[Mapping[str, Any]]) -> None:
    first = surges[0]
    print(
        f"\n== 2. Surge: {first['citizens']} citizens for {first['places']} places ({first['slots']} slots x "
        f"{first['capacity']}, one day, one location), {first['threads']} threads over HTTP, live local stack =="
    )
    print(
        "(the local stand-in serialises every AWS request and sheds what it cannot serve in time; times are "
        f"its own, counts are what matter. {os.cpu_count()} CPUs.)"
    )
    for mode, readers in dict.fromkeys((s["mode"], s.get("readers", 0)) for s in surges):
        runs = [s for s in surges if s["mode"] == mode and s.get("readers", 0) == readers]
        print(f"\n[{mode}, {readers} readers] {len(runs)} run(s); min / median / max")
        for title, key in SUMMARY_ROWS:
            print(f"  {title:<36}{_spread([s[key] for s in runs]):>28}")
        rcu = statistics.median(s["rcu_per_booking"] or 0.0 for s in runs)
        wcu = statistics.median(s["wcu_per_booking"] or 0.0 for s in runs)
        load = table_load(rcu, wcu, TARGET_BOOKINGS_PER_SECOND)
        print(
            f"  at {TARGET_BOOKINGS_PER_SECOND} bookings/s (docs/capacity.md): {load['rcu_per_second']:g} RCU/s, "
            f"{load['wcu_per_second']:g} WCU/s on the table (medians per booking)"
        )
        http = statistics.median(s["http_requests_per_booking"] or 0.0 for s in runs)
        for rate in (TARGET_BOOKINGS_PER_SECOND, 1000):
            stack = stack_load(rcu, wcu, http, rate)
            print(
                f"  the stack at {rate} bookings/s ({http:g} HTTP requests per booking): "
                + "; ".join(
                    f"{name} {v['per_second']:g}/s = {v['share']:.0%} of {v['setting']:g}"
                    f" (for {HEADROOM:.0%}: {v['setting_for_headroom']:g})"
                    for name, v in stack.items()
                )
                + (
                    f"; over DynamoDB's per-table maximum: {', '.join(over)}"
                    if (over := over_table_maximum(stack))
                    else ""
                )
            )
        for rate in (str(TARGET_BOOKINGS_PER_SECOND), "1000"):
            hottest = runs[-1]["partition_model"][rate]
            print(
                f"  partition model at {rate} bookings/s (run {runs[-1]['run']}, hottest key per kind, RCU/s / WCU/s): "
                + "; ".join(f"{m['kind']} {m['rcu_per_second']:g} / {m['wcu_per_second']:g}" for m in hottest)
            )
        for s in runs:
            print(f"  run {s['run']}: HTTP statuses: " + ", ".join(f"{k}: {v}" for k, v in s["http_statuses"].items()))
            print(f"  run {s['run']}: gave up: {s['gave_up']}; DynamoDB errors: {s['dynamodb_errors'] or 'none'}")
            for route, operations in s["dynamodb_requests_by_route"].items():
                listed = ", ".join(f"{k} {v}" for k, v in operations.items())
                print(f"  run {s['run']}: DynamoDB requests of {route}: {listed}")
            print(
                f"  run {s['run']}: latency by call (ms p50/p95): "
                + "; ".join(f"{c} {v['p50']}/{v['p95']}" for c, v in s["latency_by_call_ms"].items())
            )
            for line in s["server_errors"]:
                print(f"  run {s['run']}: error answer: {line}")
            for failure in s["failed_checks"]:
                print(f"  run {s['run']}: CHECK FAILED: {failure}")
