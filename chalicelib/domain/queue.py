"""The waiting room and booking waves: who may take a hold in a timebook, and when.

The waiting room (Queue-it's and AWS Virtual Waiting Room's shape): a citizen gets a signed ticket
with an arrival number; a schedule admits the waiting in arrival order at the timebook's
`admit_per_minute` (halved while the system sheds load, recovering when it does not); a poll
compares the ticket with the room's admitted-up-to number and reads no table. While the room is
on, a hold needs the caller's admitted ticket (403 `queue_required`).

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from chalicelib.errors import Forbidden

# The schedule steps at most this long a gap at once (a stopped schedule does not let a crowd in).
MAX_STEP_SECONDS = 300
MIN_RATE_PER_MINUTE = 1.0
RECOVERY_FACTOR = 1.5  # a step without shed load raises a lowered rate by this much, up to the setting
# How many evenly spaced arrivals the room keeps to tell a poller its position without a read.
MILEPOSTS = 200
MIN_POLL_SECONDS = 2
MAX_POLL_SECONDS = 30


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

    def covers(self, born: date) -> bool:
        return self.born_from is not None and self.born_to is not None and self.born_from <= born <= self.born_to


def wave_opens_at(waves: Sequence[Wave], born: date, listed: Iterable[int] = ()) -> datetime | None:
    """When a person born on `born`, on the priority lists of the waves numbered `listed`, may hold
    (None: no waves, always): the earliest of their waves. Someone in no wave may hold once the
    last wave has opened: the waves stage the opening, they exclude nobody for good."""
    if not waves:
        return None
    mine = [w.opens_at for w in waves if w.covers(born)]
    mine += [waves[n].opens_at for n in listed if 0 <= n < len(waves)]
    return min(mine) if mine else all_open_at(waves)


def all_open_at(waves: Sequence[Wave]) -> datetime:
    """From then on everyone may hold: no list needs reading."""
    return max(w.opens_at for w in waves)


class NotOpenYet(Forbidden):
    code = "not_open_yet"

    def __init__(self, opens_at: datetime) -> None:
        super().__init__(f"Booking opens for this person at {opens_at.isoformat()}.")
        self.opens_at = opens_at
        self.extra = {"opens_at": opens_at.isoformat()}


def require_wave_open(waves: Sequence[Wave], born: date, now: datetime, listed: Iterable[int] = ()) -> None:
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
    number up to it is admitted (-1: nobody yet). `mileposts`: every `spacing`-th waiting arrival
    after it, in order, as of the last step; `waiting`: how many waited then."""

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

    def admitted(self, arrival: int) -> bool:
        return arrival <= self.admitted_up_to

    def position(self, arrival: int) -> int:
        """People ahead plus one (0 once admitted); an arrival after the last step is last."""
        if self.admitted(arrival):
            return 0
        ahead = bisect.bisect_left(self.mileposts, arrival) * self.spacing  # exact while spacing is 1
        return min(ahead, self.waiting) + 1

    def standing(self, arrival: int, setting: WaitingRoom) -> Standing:
        rate = self.rate_per_minute or float(setting.admit_per_minute)
        position = self.position(arrival)
        if position == 0:
            return Standing("admitted", 0, 0, MAX_POLL_SECONDS)
        wait = math.ceil(position / max(rate, MIN_RATE_PER_MINUTE) * 60)
        poll = max(MIN_POLL_SECONDS, min(MAX_POLL_SECONDS, wait // 10))
        return Standing("waiting", position, wait, poll)


def next_rate(current: float, setting: int, shed: bool) -> float:
    """Halve while the system sheds load (429s since the last step), else recover to the setting."""
    rate = current or float(setting)
    if shed:
        return max(MIN_RATE_PER_MINUTE, rate / 2)
    return min(float(setting), max(rate * RECOVERY_FACTOR, MIN_RATE_PER_MINUTE))


def step(state: RoomState, waiting: Sequence[int], setting: WaitingRoom, now_epoch: int, shed_total: int) -> RoomState:
    """One admission step. `waiting`: the arrival numbers after `admitted_up_to`, in order. The
    time since the last step (or since the room opened) decides how many."""
    elapsed = 60 if state.stepped_at == 0 else max(0, min(MAX_STEP_SECONDS, now_epoch - state.stepped_at))
    rate = next_rate(state.rate_per_minute, setting.admit_per_minute, shed_total > state.shed_seen)
    budget = rate * elapsed / 60 + state.carry
    admit = min(int(budget), len(waiting))
    carry = budget - int(budget) if admit < len(waiting) else 0.0  # an empty room banks nothing
    admitted_up_to = max(state.admitted_up_to, waiting[admit - 1]) if admit else state.admitted_up_to
    rest = waiting[admit:]
    spacing = max(1, math.ceil(len(rest) / MILEPOSTS))
    return replace(
        state,
        admitted_up_to=admitted_up_to,
        rate_per_minute=rate,
        stepped_at=now_epoch,
        shed_seen=max(shed_total, state.shed_seen),
        carry=carry,
        waiting=len(rest),
        spacing=spacing,
        mileposts=tuple(rest[::spacing]),
        version=state.version + 1,
    )


def require_admitted(ticket: Ticket | None, timebook_id: str, person: str, state: RoomState) -> None:
    """The room's rule for a hold: the caller's own admitted ticket of this timebook."""
    if ticket is None or ticket.timebook_id != timebook_id or ticket.person != person:
        raise Forbidden("Join the queue for this timebook first (X-Queue-Ticket).", code="queue_required")
    if not state.admitted(ticket.arrival):
        raise Forbidden("Your turn in the queue has not come yet.", code="queue_required")
