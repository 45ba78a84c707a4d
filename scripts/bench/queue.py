"""Part `queue` (issue 20): a sold-out surge through the waiting room, for fairness.

Every citizen joins the line (`POST /timebooks/{id}/queue`), polls `GET /queue/{ticket}` as the
answer says, and once admitted holds the first available time with `X-Queue-Ticket` and books.
The admission schedule is driven here every `--admit-every` seconds (default 5, as `make run`;
AWS steps once a minute). Reported: Kendall's tau between arrival order and booking order (goal
≥ 0.95), 429s seen by ticket holders (goal 0), 5xx, dropped connections (client timeouts and
connection errors), time until sold out; and where order is lost: tau between arrival and the
moment a citizen saw itself admitted, and the seconds from that moment to a booking.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from scripts.bench.common import citizen, forget_aws_clients, free_port, quiet_logs
from scripts.bench.surge import Answer, Http, SurgeSize

# A citizen polls at most this long before giving up (a bench that never ends measures nothing).
MAX_WAIT_SECONDS = 600.0
CLIENT_THREADS = 256  # at most this many citizens at a time, each on its own thread
ADMIT_EVERY_SECONDS = 5.0  # chalicelib/local/events.py: `make run` steps the rooms this often


def _inversions(values: list[int]) -> int:
    """Pairs out of order (i < j, values[i] > values[j]), by merge sort: O(n log n)."""
    if len(values) < 2:
        return 0
    middle = len(values) // 2
    left, right = values[:middle], values[middle:]
    count = _inversions(left) + _inversions(right)
    merged: list[int] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            count += len(left) - i  # every left value still waiting is greater
            j += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    values[:] = merged
    return count


def kendall_tau(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Kendall's tau-a of two rankings of the same items (no ties): 1 = the same order, -1 =
    reversed. `first[i]` and `second[i]` are item i's keys in each ranking; O(n log n)."""
    n = len(first)
    if n != len(second):
        raise ValueError("both rankings must rank the same items")
    if n < 2:
        return None
    by_first = sorted(range(n), key=lambda i: first[i])
    rank_in_second = {i: rank for rank, i in enumerate(sorted(range(n), key=lambda i: second[i]))}
    discordant = _inversions([rank_in_second[i] for i in by_first])
    pairs = n * (n - 1) // 2
    return (pairs - 2 * discordant) / pairs


def kendall_tau_b(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Kendall's tau-b, which allows ties (here: everyone who got no place ties last); O(n^2),
    about a second for 2,000 citizens."""
    n = len(first)
    if n != len(second):
        raise ValueError("both rankings must rank the same items")
    concordant = discordant = ties_first = ties_second = 0
    for i in range(n):
        for j in range(i + 1, n):
            a = (first[i] > first[j]) - (first[i] < first[j])
            b = (second[i] > second[j]) - (second[i] < second[j])
            if a == 0 and b == 0:
                continue
            if a == 0:
                ties_first += 1
            elif b == 0:
                ties_second += 1
            elif a == b:
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_first) * (concordant + discordant + ties_second)) ** 0.5
    return (concordant - discordant) / denominator if denominator else None


@dataclass
class QueueOutcome:
    statuses: Counter[str] = field(default_factory=Counter)
    arrivals: dict[int, int] = field(default_factory=dict)  # citizen -> arrival number
    booked_at: dict[int, float] = field(default_factory=dict)  # citizen -> when booked (monotonic)
    seen_admitted_at: dict[int, float] = field(default_factory=dict)  # citizen -> when a poll said admitted
    seconds: dict[str, list[float]] = field(default_factory=dict)  # call -> how long each answer took
    booked_start: dict[int, str] = field(default_factory=dict)  # citizen -> the booked time's start
    polls: int = 0
    throttled_with_ticket: int = 0
    gave_up: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, call: str, answer: Answer, ticket: bool) -> None:
        with self.lock:
            self.statuses[f"{call} {answer.status}"] += 1
            self.seconds.setdefault(call, []).append(answer.seconds)
            if ticket and answer.status == 429:
                self.throttled_with_ticket += 1


def _retry_after(answer: Answer) -> float:
    try:
        return min(float(answer.headers.get("Retry-After", "1")), 5.0)
    except ValueError:
        return 1.0


def _citizen(http: Http, timebook_id: str, n: int, person: tuple[str, str, str], outcome: QueueOutcome) -> None:
    _, phone, token = person
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(40):
        joined = http.request("POST", f"/timebooks/{timebook_id}/queue", {}, auth)
        outcome.saw("POST /queue", joined, ticket=False)
        if joined.status in (200, 201):
            break
        time.sleep(_retry_after(joined) if joined.status in (0, 429) else 1.0)
    else:
        outcome.gave_up["never joined"] += 1
        return
    ticket, place = joined.body["ticket"], joined.body
    with outcome.lock:
        outcome.arrivals[n] = int(place["arrival"])
    waited_from = time.monotonic()
    while place.get("state") != "admitted":
        if time.monotonic() - waited_from > MAX_WAIT_SECONDS:
            outcome.gave_up["never admitted"] += 1
            return
        time.sleep(max(1, int(place.get("poll_after_seconds", 2))))  # as the answer says
        polled = http.request("GET", f"/queue/{ticket}", None, {})
        outcome.saw("GET /queue", polled, ticket=True)
        with outcome.lock:
            outcome.polls += 1
        if polled.status == 200:
            place = polled.body
    with outcome.lock:
        outcome.seen_admitted_at[n] = time.monotonic()
    headers = {**auth, "X-Queue-Ticket": ticket}
    for _ in range(40):
        hold = http.request("POST", "/holds", {"timebook_id": timebook_id}, headers)
        outcome.saw("POST /holds", hold, ticket=True)
        if hold.status in (0, 429):
            time.sleep(_retry_after(hold))
            continue
        if hold.status != 201:
            outcome.gave_up["sold out" if hold.status == 409 else f"hold {hold.status}"] += 1
            return
        body = {"hold_id": hold.body["id"], "phone": phone, "answers": {}}
        for _ in range(40):
            made = http.request("POST", "/appointments", body, headers)
            outcome.saw("POST /appointments", made, ticket=True)
            if made.status in (0, 429):
                time.sleep(_retry_after(made))
                continue
            if made.status == 201:
                with outcome.lock:
                    outcome.booked_at[n] = time.monotonic()
                    outcome.booked_start[n] = str(hold.body.get("start", ""))
                return
            break
    outcome.gave_up["attempts used up"] += 1


def _admit_periodically(stop: threading.Event, every: float) -> None:
    from chalicelib.booking import queue

    while not stop.wait(every):
        try:
            queue.admit()
        except Exception as error:  # the next step tries again, as the schedule would
            code = getattr(error, "cause_response_code", "") or ""
            print(f"  admission step failed: {type(error).__name__} {code}", flush=True)


def _quantile(values: Sequence[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else None


def run_queue_surge(
    base: str, size: SurgeSize, admit_per_minute: int, her_id: str, admit_every: float = ADMIT_EVERY_SECONDS
) -> dict[str, Any]:
    from scripts.bench.surge import make_surge_timebook

    http = Http(base)
    timebook_id = _queue_timebook(http, her_id, size, admit_per_minute, make_surge_timebook)
    people = [citizen(500_000 + n) for n in range(size.citizens)]
    outcome = QueueOutcome()
    stop = threading.Event()
    admitter = threading.Thread(target=_admit_periodically, args=(stop, admit_every), daemon=True)
    threads = min(size.citizens, CLIENT_THREADS)
    # Threads start one by one, slowly on a loaded machine, which spread the "burst" of joins over
    # seconds: the first `threads` citizens wait until all have started, then press at once.
    at_once = threading.Barrier(threads)

    def one(n: int) -> None:
        if n < threads:
            with contextlib.suppress(threading.BrokenBarrierError):
                at_once.wait(timeout=MAX_WAIT_SECONDS)
        _citizen(http, timebook_id, n, people[n], outcome)

    started = time.monotonic()
    admitter.start()
    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(size.citizens)))
    finally:
        stop.set()
        admitter.join()
    wall = time.monotonic() - started
    booked = sorted(outcome.booked_at)
    tau = kendall_tau([outcome.arrivals[n] for n in booked], [outcome.booked_at[n] for n in booked])
    tau_seen = kendall_tau([outcome.arrivals[n] for n in booked], [outcome.seen_admitted_at[n] for n in booked])
    to_book = [outcome.booked_at[n] - outcome.seen_admitted_at[n] for n in booked]
    starts = sorted(set(outcome.booked_start.values()))  # ISO times of one day: their order is the rank
    tau_place = kendall_tau_b(
        [outcome.arrivals[n] for n in booked], [starts.index(outcome.booked_start[n]) for n in booked]
    )
    first_arrivals = set(sorted(outcome.arrivals, key=outcome.arrivals.__getitem__)[: size.places])
    joined = sorted(outcome.arrivals)
    never = float("inf")  # who got no place ties last
    tau_all = kendall_tau_b([outcome.arrivals[n] for n in joined], [outcome.booked_at.get(n, never) for n in joined])

    def count(predicate: Any) -> int:
        return sum(v for k, v in outcome.statuses.items() if predicate(int(k.rsplit(" ", 1)[1])))

    return {
        "citizens": size.citizens,
        "places": size.places,
        "admit_per_minute": admit_per_minute,
        "booked": len(booked),
        "kendall_tau_arrival_vs_booking": round(tau, 4) if tau is not None else None,
        "kendall_tau_b_all_citizens": round(tau_all, 4) if tau_all is not None else None,
        "kendall_tau_arrival_vs_seen_admitted": round(tau_seen, 4) if tau_seen is not None else None,
        "kendall_tau_b_arrival_vs_booked_start": round(tau_place, 4) if tau_place is not None else None,
        "seen_admitted_to_booked_seconds_p50_p90_max": [
            _quantile(to_book, 0.5),
            _quantile(to_book, 0.9),
            _quantile(to_book, 1.0),
        ],
        "polls": outcome.polls,
        "answer_seconds_p50_p90_max": {
            call: [_quantile(times, 0.5), _quantile(times, 0.9), _quantile(times, 1.0)]
            for call, times in sorted(outcome.seconds.items())
        },
        "admit_every_seconds": admit_every,
        "booked_among_first_arrivals": len(first_arrivals & set(booked)),
        "http_429_with_ticket": outcome.throttled_with_ticket,
        "http_5xx": count(lambda s: s >= 500),
        "dropped_connections": count(lambda s: s == 0),
        "http_statuses": dict(sorted(outcome.statuses.items())),
        "gave_up": dict(outcome.gave_up),
        "sold_out_seconds": round(max(outcome.booked_at.values()) - started, 2) if booked else None,
        "wall_seconds": round(wall, 2),
    }


def _queue_timebook(http: Any, her_id: str, size: SurgeSize, admit_per_minute: int, make: Any) -> str:
    """The surge's timebook, with its waiting room switched on (sent with the timebook's settings)."""
    original = http.post

    def with_room(path: str, body: Mapping[str, Any], token: str) -> Answer:
        if path == "/admin/timebooks":
            body = {**body, "waiting_room": {"enabled": True, "admit_per_minute": admit_per_minute}}
        return original(path, body, token)

    http.post = with_room
    timebook_id, _ = make(http, her_id, size)
    return str(timebook_id)


def measure_queue(
    size: SurgeSize, admit_per_minute: int | None = None, admit_every: float = ADMIT_EVERY_SECONDS
) -> dict[str, Any]:
    from chalicelib.local import runner

    quiet_logs()
    os.environ.pop("AWS_ENDPOINT_URL", None)
    forget_aws_clients()
    stack = runner.start(free_port(), seed=False, workers=False)
    try:
        rate = admit_per_minute or 6 * size.places  # the places' worth in about 10 s
        result = run_queue_surge(stack.api_url, size, rate, "7200", admit_every)
        result["load_average_1min"] = round(os.getloadavg()[0], 2)
        return result
    finally:
        stack.stop()


def print_queue(result: Mapping[str, Any]) -> None:
    print("\n== waiting room: a sold-out surge through the line ==")
    for label, key in [
        ("citizens / places", None),
        ("booked", "booked"),
        ("Kendall tau, arrival vs booking of the booked (goal >= 0.95)", "kendall_tau_arrival_vs_booking"),
        ("Kendall tau-b, all citizens (no place: tied last)", "kendall_tau_b_all_citizens"),
        ("booked among the first `places` arrivals", "booked_among_first_arrivals"),
        ("Kendall tau, arrival vs seeing oneself admitted (of the booked)", "kendall_tau_arrival_vs_seen_admitted"),
        (
            "seconds from seeing oneself admitted to booked: p50, p90, max",
            "seen_admitted_to_booked_seconds_p50_p90_max",
        ),
        (
            "Kendall tau-b, arrival vs the booked time's start (who got which time)",
            "kendall_tau_b_arrival_vs_booked_start",
        ),
        ("polls", "polls"),
        ("admission steps every (s)", "admit_every_seconds"),
        ("429s seen by ticket holders (goal 0)", "http_429_with_ticket"),
        ("5xx (goal 0)", "http_5xx"),
        ("dropped connections (goal 0)", "dropped_connections"),
        ("sold out after (s)", "sold_out_seconds"),
        ("wall time (s)", "wall_seconds"),
        ("load average, 1 min, at the end", "load_average_1min"),
    ]:
        value = f"{result['citizens']} / {result['places']}" if key is None else result[key]
        print(f"  {label:<62} {value}")
    print(f"  gave up: {result['gave_up']}")
    print(f"  answer seconds p50, p90, max: {result['answer_seconds_p50_p90_max']}")
