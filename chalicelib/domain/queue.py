"""The waiting room and booking waves: who may take a hold in a timebook, and when.

The waiting room (Queue-it's and AWS Virtual Waiting Room's shape): a citizen gets a signed ticket
with an arrival number; a schedule admits the waiting in arrival order at the timebook's
`admit_per_minute` (halved while the system sheds load, recovering when it does not); a poll
compares the ticket with the room's admitted-up-to number and reads no table. While the room is
on, a hold needs the caller's admitted ticket (403 `queue_required`).

A step does not let its whole share in at once: it plans turns (`TURN_SECONDS` apart, far enough
ahead to reach past the next step) at which the next in line are admitted, so admission is as
smooth at a step a minute as at a step a second, and a poll can tell a planned ticket the very
second of its turn. A planned turn is never moved later (a process with an older copy of the room
may have promised it); shed load slows the turns planned after it. Time no turn covered (the
first step after the room opened, a late step) is owed and paid in turns at twice the rate.

Arrival numbers are clock-ordered keys (epoch milliseconds x 1000 + a random tie-break), not a
counter: no item is written by every arrival (docs/capacity.md, «The waiting room»). Admission
is "every arrival number up to A", A never decreases: whatever the interleaving of arrivals and
steps, the admitted are a prefix of the arrivals in arrival order.

Waves (the 2021 vaccine rollout: booking opened by birth cohort): before the wave of the person
the place is for has opened, a hold is 403 `not_open_yet` naming the time.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.errors import Forbidden, InvalidInput

if TYPE_CHECKING:
    from chalicelib.domain.model import Timebook

# The schedule steps at most this long a gap at once (a stopped schedule does not let a crowd in).
MAX_STEP_SECONDS = 300
MIN_RATE_PER_MINUTE = 1.0
RECOVERY_FACTOR = 1.5  # a step without shed load raises a lowered rate by this much, up to the setting
# How many evenly spaced arrivals the room keeps to tell a poller its position without a read.
MILEPOSTS = 200
MIN_POLL_SECONDS = 2
MAX_POLL_SECONDS = 30
# Admission turns: this far apart; planned two steps' gap ahead (a late step leaves no hole),
# within these bounds (at most MAX_STEP_SECONDS / TURN_SECONDS thresholds in the room's item).
TURN_SECONDS = 0.5
MIN_PLAN_SECONDS = 5.0
MAX_PLAN_SECONDS = 150.0
# Time no turn covered (the first step after the room opened, a late step) is owed to the line and
# paid in turns at this many times the rate, within MAX_STEP_SECONDS.
CATCH_UP_FACTOR = 2
_EPSILON = 1e-9  # a sum of fractions that should be whole is not 0.999...


@dataclass(frozen=True)
class WaitingRoom:
    """A timebook's setting: while enabled, holds need an admitted ticket."""

    enabled: bool = False
    admit_per_minute: int = 60


@dataclass(frozen=True)
class Wave:
    """People born in [born_from, born_to] (inclusive) may hold from `opens_at`, and so may the
    people on the wave's priority list (staff upload it; a wave may have only the list)."""

    opens_at: datetime
    born_from: date | None
    born_to: date | None
    # Stable across edits: a priority list keys on it, so a PATCH that reorders, inserts or moves
    # waves keeps each list with its wave (docs/decisions.md). Given when the wave is made.
    id: str = ""

    def covers(self, born: date) -> bool:
        return self.born_from is not None and self.born_to is not None and self.born_from <= born <= self.born_to


def wave_opens_at(waves: Sequence[Wave], born: date, listed: Iterable[str] = ()) -> datetime | None:
    """When a person born on `born`, on the priority lists of the waves with ids `listed`, may hold
    (None: no waves, always): the earliest of their waves. Someone in no wave may hold once the
    last wave has opened: the waves stage the opening, they exclude nobody for good. A list of a
    wave no longer there counts for nothing."""
    if not waves:
        return None
    ids = set(listed)
    mine = [w.opens_at for w in waves if w.covers(born) or (w.id and w.id in ids)]
    return min(mine) if mine else all_open_at(waves)


def new_wave_id() -> str:
    """Never one a stored wave had: a list of a removed wave cannot come back with a new wave."""
    return "wv" + secrets.token_hex(6)


def legacy_wave_id(index: int) -> str:
    """The id of a wave stored before waves had ids: its list was keyed on its index then."""
    return f"{index:03d}"


def keep_wave_ids(given: Sequence[Wave], before: Sequence[Wave]) -> tuple[Wave, ...]:
    """Staff's waves as they will be stored: a wave given with the id of one of `before` is that
    wave (its list stays with it, wherever it now stands and whenever it now opens); one without
    an id is new. An id the timebook does not have, or given twice, is a 400 naming the wave."""
    known = {w.id for w in before}
    seen: set[str] = set()
    bad: list[tuple[str, str]] = []
    for n, wave in enumerate(given):
        if wave.id and (wave.id not in known or wave.id in seen):
            bad.append((f"waves.{n}.id", "not a wave of this timebook" if wave.id not in known else "given twice"))
        seen.add(wave.id)
    if bad:
        raise InvalidInput("Some waves are not this timebook's.", fields=bad)
    return tuple(w if w.id else replace(w, id=new_wave_id()) for w in given)


def listed_waves_removed(before: Sequence[Wave], after: Sequence[Wave], listed: Iterable[str]) -> list[int]:
    """The indexes in `before` of the waves with a priority list that `after` leaves out."""
    kept = {w.id for w in after}
    ids = set(listed)
    return [n for n, w in enumerate(before) if w.id in ids and w.id not in kept]


def find_wave(waves: Sequence[Wave], ref: str) -> int | None:
    """The index of the wave a path names, by its id or else by its index (from 0); None: no such
    wave. The id first: a wave stored before ids has its old index as id ("002"), wherever it is now."""
    found = next((n for n, w in enumerate(waves) if w.id == ref), None)
    if found is None and ref.isdigit() and len(ref) <= 3 and int(ref) < len(waves):
        return int(ref)
    return found


def all_open_at(waves: Sequence[Wave]) -> datetime:
    """From then on everyone may hold: no list needs reading."""
    return max(w.opens_at for w in waves)


def list_lifetime(waves: Sequence[Wave], retention_days: int) -> datetime | None:
    """Until when a timebook's priority lists are kept: its last wave's opening as the waves are
    now, plus its retention days (from then on everyone may hold: a list decides nothing). None
    without waves (nothing to keep them for: they keep the lifetime they had)."""
    return all_open_at(waves) + timedelta(days=retention_days) if waves else None


def lifetime_moved(before: Timebook, after: Timebook) -> bool:
    """A settings change moves how long the timebook's priority lists are kept (its last wave's
    opening, its retention days). Without waves before, no list: an upload meanwhile needs a wave,
    so it changed the settings the change read, and the change is refused."""
    if not before.waves:
        return False
    old = list_lifetime(before.waves, before.retention_days)
    return old != list_lifetime(after.waves, after.retention_days)


@dataclass(frozen=True)
class ListEntry:
    """One person (keyed hash) on one wave's priority list, as stored: removed (TTL) at `ttl`
    (epoch seconds), a lifetime stamped from the timebook's settings of version `stamped` (-1:
    stored before entries carried it)."""

    person: str
    wave_id: str
    ttl: int | None = None
    stamped: int = -1

    def needs_stamp(self, ttl: int, version: int, asked_at: int, waves: Collection[str] | None = None) -> bool:
        """A stamp from the settings of `version` changes this entry: only newer settings than
        those it carries (the newest waves win), only if the lifetime differs, and only if it
        was live when the change asked for the stamps (one past its lifetime before is gone,
        though DynamoDB removes it days late: not brought back; one that passed it while the walk
        was on its way is the walk's delay, not the list's end). The list of a wave no longer
        among `waves` (dropped with `drop_lists`) decides nothing: it may be shortened, never
        kept longer."""
        live = self.ttl is None or self.ttl > asked_at
        if waves is not None and self.wave_id not in waves and (self.ttl is None or ttl >= self.ttl):
            return False
        return live and self.stamped < version and self.ttl != ttl


@dataclass(frozen=True)
class Restamp:
    """A timebook's lists being stamped again after a change of their lifetime: the
    `generation`-th walk asked for, done up to `after` (the storage's order; None: from the start),
    asked for first at `asked_at` (epoch seconds) since the last walk finished."""

    timebook_id: str
    generation: int
    after: str | None = None
    asked_at: int = 0


class NotOpenYet(Forbidden):
    code = "not_open_yet"

    def __init__(self, opens_at: datetime) -> None:
        super().__init__(f"Booking opens for this person at {opens_at.isoformat()}.")
        self.opens_at = opens_at
        self.extra = {"opens_at": opens_at.isoformat()}


def require_wave_open(waves: Sequence[Wave], born: date, now: datetime, listed: Iterable[str] = ()) -> None:
    opens_at = wave_opens_at(waves, born, listed)
    if opens_at is not None and now < opens_at:
        raise NotOpenYet(opens_at)


# ---- tickets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """What a signed ticket says: whose (a keyed hash, never the identity number), where, when."""

    timebook_id: str
    person: str
    arrival: int


def person_hash(pid: str, key: bytes) -> str:
    """Keyed: a plain hash of an identity number is reversed by trying a birth date's few hundred."""
    return hmac.new(key, b"queue-person:" + pid.encode(), hashlib.sha256).hexdigest()[:32]


def listed_hash(pid: str, key: bytes) -> str:
    """A priority list's entry: keyed as the ticket's person, but not the same (one leaks not the other)."""
    return hmac.new(key, b"wave-person:" + pid.encode(), hashlib.sha256).hexdigest()[:32]


def new_arrival(now_ms: int, after: int = -1) -> int:
    """A clock-ordered arrival number, above `after` (the last one this process gave: in order
    within a process); the random part breaks ties between processes within a millisecond."""
    return max(now_ms * 1000 + secrets.randbelow(1000), after + 1)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, key: bytes) -> str:
    return _b64(hmac.new(key, b"queue-ticket:" + payload.encode(), hashlib.sha256).digest()[:20])


def sign_ticket(ticket: Ticket, key: bytes) -> str:
    payload = _b64(json.dumps([ticket.timebook_id, ticket.person, ticket.arrival], separators=(",", ":")).encode())
    return f"{payload}.{_signature(payload, key)}"


def read_ticket(text: str | None, key: bytes) -> Ticket | None:
    """The ticket a signed text carries; None for anything forged, altered or malformed."""
    if not text or len(text) > 400 or text.count(".") != 1:
        return None
    payload, signature = text.split(".")
    if not hmac.compare_digest(signature, _signature(payload, key)):
        return None
    try:
        timebook_id, person, arrival = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        return None
    if not (isinstance(timebook_id, str) and isinstance(person, str) and type(arrival) is int):
        return None
    return Ticket(timebook_id, person, arrival)


# ---- the room's state: admitted-up-to, mileposts, rate ---------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A ticket's place as a poll answers it."""

    state: str  # waiting | admitted
    position: int
    estimated_wait_seconds: int
    poll_after_seconds: int


@dataclass(frozen=True)
class RoomState:
    """What the schedule last decided for one timebook's room. `admitted_up_to`: every arrival
    number up to it is admitted (-1: nobody yet). `plan`: the turns after it, turn i at
    `plan_from + (i + 1) * TURN_SECONDS` admitting every arrival up to `plan[i]` (non-decreasing).
    `mileposts`: every `spacing`-th waiting arrival after `admitted_up_to`, in order, as of the
    last step; `waiting`: how many waited then. `carry`: the fraction of an admission after the
    plan's last turn."""

    admitted_up_to: int = -1
    rate_per_minute: float = 0.0  # the effective rate (0: not stepped yet, the setting applies)
    stepped_at: int = 0  # epoch seconds
    shed_seen: int = 0  # the load-shed count the last step saw
    carry: float = 0.0  # a fraction of an admission carried to the next step
    waiting: int = 0
    spacing: int = 1
    mileposts: tuple[int, ...] = field(default=(), compare=False)
    version: int = 0
    sold_out: bool = False  # no place looked free at the last step: a poll tells the line so
    # The timebook's locations where no place looked free then (a poll naming one tells it so).
    sold_out_locations: tuple[str, ...] = ()
    plan: tuple[int, ...] = ()
    plan_from: float = 0.0  # epoch seconds

    def looks_sold_out(self, location_id: str | None = None) -> bool:
        """As the last step saw it: nothing free in the timebook, or at the one location asked of."""
        return self.sold_out or (location_id is not None and location_id in self.sold_out_locations)

    def due(self, now: float) -> int:
        """How many of the plan's turns have come by `now` (epoch seconds)."""
        if not self.plan:
            return 0
        return max(0, min(len(self.plan), math.floor((now - self.plan_from) / TURN_SECONDS + _EPSILON)))

    def up_to(self, now: float) -> int:
        """Every arrival number up to this is admitted at `now`."""
        due = self.due(now)
        return max(self.admitted_up_to, self.plan[due - 1]) if due else self.admitted_up_to

    def admitted(self, arrival: int, now: float) -> bool:
        return arrival <= self.up_to(now)

    def turn(self, arrival: int) -> float | None:
        """When a planned arrival is admitted (epoch seconds); None beyond the plan."""
        i = bisect.bisect_left(self.plan, arrival)
        return self.plan_from + (i + 1) * TURN_SECONDS if i < len(self.plan) else None

    def _ahead(self, arrival: int) -> int:
        return min(bisect.bisect_left(self.mileposts, arrival) * self.spacing, self.waiting)  # exact while spacing is 1

    def position(self, arrival: int, now: float) -> int:
        """People ahead plus one (0 once admitted); an arrival after the last step is last."""
        if self.admitted(arrival, now):
            return 0
        gone = self._ahead(self.up_to(now) + 1) if self.up_to(now) > self.admitted_up_to else 0
        return max(1, self._ahead(arrival) - gone + 1)

    def standing(self, arrival: int, setting: WaitingRoom, now: float) -> Standing:
        """Where a ticket stands; a planned one is told to look again the second its turn comes."""
        position = self.position(arrival, now)
        if position == 0:
            return Standing("admitted", 0, 0, MAX_POLL_SECONDS)
        turn = self.turn(arrival)
        if turn is not None:
            wait = max(1, math.ceil(turn - now - _EPSILON))
            return Standing("waiting", position, wait, min(MAX_POLL_SECONDS, wait))
        rate = self.rate_per_minute or float(setting.admit_per_minute)
        wait = math.ceil(position / max(rate, MIN_RATE_PER_MINUTE) * 60)
        # Beyond the plan: look again about when the turn will be planned (a step plans `ahead`
        # seconds ahead), and once more within half the plan, so a turn is learnt before it comes;
        # never later than half the wait (the rate may recover meanwhile).
        ahead = self.plan_from + len(self.plan) * TURN_SECONDS - self.stepped_at if self.plan else MIN_PLAN_SECONDS
        poll = min(wait / 2, max(wait - ahead, ahead / 2))
        return Standing("waiting", position, wait, int(max(MIN_POLL_SECONDS, min(MAX_POLL_SECONDS, poll))))


def next_rate(current: float, setting: int, shed: bool) -> float:
    """Halve while the system sheds load (429s since the last step), else recover to the setting."""
    rate = current or float(setting)
    if shed:
        return max(MIN_RATE_PER_MINUTE, rate / 2)
    return min(float(setting), max(rate * RECOVERY_FACTOR, MIN_RATE_PER_MINUTE))


def _plan_seconds(state: RoomState, now: float) -> float:
    """How far ahead to plan: twice the gap since the last step (the schedule's own rhythm: a
    minute in AWS, seconds locally), so the next step comes while turns are still planned."""
    if state.stepped_at == 0:
        return MIN_PLAN_SECONDS
    return max(MIN_PLAN_SECONDS, min(MAX_PLAN_SECONDS, 2 * (now - state.stepped_at)))


def step(state: RoomState, waiting: Sequence[int], setting: WaitingRoom, now: float, shed_total: int) -> RoomState:
    """One admission step at `now` (epoch seconds). `waiting`: the arrival numbers after
    `admitted_up_to`, in order. The turns that have come are admitted for good; the turns still
    ahead keep their times; time the plan did not cover (the first step, a late one, a line that
    ran dry) is owed and paid in the next turns at twice the rate; then turns are planned ahead
    for the rest of the line."""
    rate = next_rate(state.rate_per_minute, setting.admit_per_minute, shed_total > state.shed_seen)
    due = state.due(now)
    admitted_up_to = state.up_to(now)
    pending = state.plan[due:]
    carry = state.carry
    line = [n for n in waiting if n > (pending[-1] if pending else admitted_up_to)]
    owed = 0.0
    if pending:
        plan_from = state.plan_from + due * TURN_SECONDS
    else:
        # Not covered by turns: since the plan's last turn (or the last step; the first counts a minute).
        covered = state.plan_from + len(state.plan) * TURN_SECONDS if state.plan else float(state.stepped_at)
        elapsed = 60.0 if state.stepped_at == 0 else max(0.0, min(MAX_STEP_SECONDS, now - covered))
        owed = min(rate * elapsed / 60 + carry, float(len(line)))  # an empty room banks nothing
        carry, plan_from = 0.0, now
    plan = list(pending)
    # What the rate owes is paid in turns too, at CATCH_UP_FACTOR times the rate: never a crowd at once.
    seconds = max(_plan_seconds(state, now), min(MAX_STEP_SECONDS, owed * 60 / rate / (CATCH_UP_FACTOR - 1)))
    turns = math.floor((now + seconds - plan_from) / TURN_SECONDS + _EPSILON) - len(plan)
    taken = 0
    for _ in range(max(0, turns)):
        if taken >= len(line):
            carry = 0.0  # the line ran dry: an empty room banks nothing, and plans no idle turns
            break
        share = rate * TURN_SECONDS / 60
        paid = min(owed, share * (CATCH_UP_FACTOR - 1))
        owed -= paid
        carry += share + paid
        admit = int(carry + _EPSILON)
        carry = max(0.0, carry - admit)
        taken = min(len(line), taken + admit)
        plan.append(line[taken - 1] if taken else (plan[-1] if plan else admitted_up_to))
    rest = [n for n in waiting if n > admitted_up_to]
    spacing = max(1, math.ceil(len(rest) / MILEPOSTS))
    return replace(
        state,
        admitted_up_to=admitted_up_to,
        rate_per_minute=rate,
        stepped_at=int(now),
        shed_seen=max(shed_total, state.shed_seen),
        carry=carry,
        waiting=len(rest),
        spacing=spacing,
        mileposts=tuple(rest[::spacing]),
        version=state.version + 1,
        plan=tuple(plan),
        plan_from=plan_from,
    )


def require_admitted(ticket: Ticket | None, timebook_id: str, person: str, state: RoomState, now: float) -> None:
    """The room's rule for a hold: the caller's own admitted ticket of this timebook."""
    if ticket is None or ticket.timebook_id != timebook_id or ticket.person != person:
        raise Forbidden("Join the queue for this timebook first (X-Queue-Ticket).", code="queue_required")
    if not state.admitted(ticket.arrival, now):
        raise Forbidden("Your turn in the queue has not come yet.", code="queue_required")
