"""Public discovery and availability (steps 1-4): what can be booked, and where there is room.

The public views (calendar, slots of a day) read per-day availability summaries that are at
most a stated few seconds old (docs/capacity.md) and count holds by their expiry at read time,
so an expired hold is free here before any sweep has run. "First available" checks its few
candidates against the slots themselves before anyone writes.
"""

from __future__ import annotations

import calendar as _calendar
import random
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby

from chalicelib import budget, clock
from chalicelib.booking.availability_docs import for_view, staleness_seconds
from chalicelib.booking.common import health_contact, iso, location_of
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.domain.availability import DaySummary, months_from
from chalicelib.domain.model import HealthContact, Slot, Timebook
from chalicelib.domain.ordering import by_instant
from chalicelib.domain.slots import begun, parse_slot_id
from chalicelib.errors import InvalidInput
from chalicelib.memo import Memo
from chalicelib.storage import repository

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
# Dates a timebook can sensibly have; outside them date arithmetic would overflow.
MIN_YEAR, MAX_YEAR = 2000, 2100


def health_contacts() -> list[HealthContact]:
    """Step 1: those that switched on «Timebestilling» (it makes the «Bestill time» button)."""
    return [hc for hc in repository.list_health_contacts() if "timebestilling" in hc.processes]


def timebooks(hc_id: str) -> list[Timebook]:
    health_contact(hc_id)
    return repository.list_timebooks(hc_id)


def timebook(timebook_id: str) -> Timebook:
    return get_timebook(timebook_id)


@dataclass(frozen=True)
class Availability:
    """A slot as just read from the slot itself, with its free place numbers."""

    slot: Slot
    free: list[int]  # free place numbers
    ends_batch: bool = False  # the last free slot of one consistent read of candidates


@dataclass(frozen=True)
class OpenSlot:
    """A slot as the public day view shows it (from the published document) or first-available
    looks at it (from the day's summary)."""

    slot_id: str
    start: str
    end: str
    location_id: str
    free: int


# "First available" reads the true state of this many candidate slots at a time,
CANDIDATE_BATCH = 8
# in random order among the earliest slots that look to have this many free places: a crowd
# taking "one of the first few" then spreads over up to SPREAD_PLACES places. A quiet timebook
# spreads over MIN_SPREAD_PLACES only (the earliest times); the spread grows with the
# first-available requests this process saw for the timebook in the last 2 s.
SPREAD_PLACES = 96
# Summaries a "first available" Query reads: two location-days of up to ~150 slots each are at
# most 8 KB, 1 RCU eventually consistent, whatever the month's size (docs/capacity.md).
FIRST_FREE_PAGE = 2
MIN_SPREAD_PLACES = 24
_recent: dict[str, list[float]] = {}
# A month in which a timebook has no slots at all (first available's look-ahead past its last
# schedule) is remembered briefly in this process, so a crowd near a sell-out does not query
# the empty months on every request (issue 17); adding a schedule here forgets it at once,
# another Lambda learns within the memo.
EMPTY_MONTH_MEMO_SECONDS = 5.0
_empty_months: Memo[tuple[str, str | None, str], bool] = Memo(lambda: EMPTY_MONTH_MEMO_SECONDS)


def forget_empty_months(timebook_id: str) -> None:
    """Slots were added to this timebook: its months are read again."""
    _empty_months.forget_where(lambda key: key[0] == timebook_id)


def _spread_for(timebook_id: str) -> int:
    now = clock.monotonic()
    seen = [t for t in _recent.get(timebook_id, []) if t > now - 2.0][-SPREAD_PLACES:]
    seen.append(now)  # approximate under threads, which is all a spread needs
    if len(_recent) > 1000:
        _recent.clear()
    _recent[timebook_id] = seen
    return max(MIN_SPREAD_PLACES, min(SPREAD_PLACES, 8 * len(seen)))


_refreshing: set[tuple[str, str, str]] = set()
_refreshing_lock = threading.Lock()


def _fresh(summaries: Iterable[DaySummary]) -> list[DaySummary]:
    """The summaries as the table's stream keeps them: the availability publisher recounts the
    days whose slots changed, one recount per batch (about a second behind in a surge), and its
    schedule's backstop every upcoming day once a minute; a reader never recounts (issue 20:
    recounts by holds were most of the month partition's writes). A summary can only send
    "first available" to read a slot that is taken (it reads the slots before writing) or miss
    a place freed in the last second or so.

    With staleness 0 (tests, where no stream publisher runs unless a test drives it) the reader
    recounts what it reads, as every view publishes first there. One thread per process
    recounts a summary; the others meanwhile use it as it is."""
    items = list(summaries)
    if staleness_seconds() > 0:
        return items
    now = clock.now()
    now_ms = int(now.timestamp() * 1000)
    stale = [s for s in items if now_ms - s.refreshed_at > staleness_seconds() * 1000]
    if not stale:
        return items
    with _refreshing_lock:
        mine = [s for s in stale if _key(s) not in _refreshing]
        _refreshing.update(_key(s) for s in mine)
    try:
        if mine:
            budget.check()
            recounted = {_key(s): s for s in repository.refresh_summaries(mine, clock.epoch(now), now_ms)}
            items = [recounted.get(_key(s), s) for s in items]
    finally:
        with _refreshing_lock:
            _refreshing.difference_update(_key(s) for s in mine)
    return items


def _key(summary: DaySummary) -> tuple[str, str, str]:
    return summary.timebook_id, summary.date, summary.location_id


def _open_slots(summary: DaySummary, now: datetime) -> Iterator[OpenSlot]:
    """The slots of a summary that have not begun, with their free places counted now (a hold
    that expired since the summary was made counts as free)."""
    day = summary.day
    now_epoch = clock.epoch(now)
    for entry, ref in zip(summary.entries, summary.refs(), strict=True):
        start = entry.start(day)
        if begun(start, now):
            continue  # a time that has begun cannot be booked
        yield OpenSlot(ref.slot_id, iso(start), iso(entry.end(day)), summary.location_id, entry.free(now_epoch))


def parse_month(month: str | None) -> str:
    if not month or not _MONTH.fullmatch(month) or not MIN_YEAR <= int(month[:4]) <= MAX_YEAR:
        raise InvalidInput("month must be YYYY-MM.", fields=[("month", f"must be YYYY-MM, {MIN_YEAR}-{MAX_YEAR}")])
    return month


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: str | None, field: str = "date") -> date:
    """Exactly YYYY-MM-DD (date.fromisoformat alone also takes 20240105 and 2024-W02-1)."""
    try:
        day = date.fromisoformat(value) if value and _DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None or not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InvalidInput(f"{field} must be YYYY-MM-DD.", fields=[(field, "must be YYYY-MM-DD")])
    return day


def month_calendar(timebook_id: str, month: str, location_id: str | None) -> list[tuple[date, int]]:
    """Step 3: free places per day of the month (0 where nothing is free), from the month's
    published document (booking/availability_docs.py): no DynamoDB request."""
    year, number = (int(part) for part in month.split("-"))
    free_by_day = {date(year, number, day): 0 for day in range(1, _calendar.monthrange(year, number)[1] + 1)}
    now = clock.now()
    for slot in _published(timebook_id, month, location_id, now):
        free_by_day[date.fromisoformat(slot.start[:10])] += slot.free  # the local date
    return sorted(free_by_day.items())


def free_slots(timebook_id: str, day: date, location_id: str | None) -> list[OpenSlot]:
    """Step 4: the bookable slots of one day (at least one free place), by start, from the
    month's published document."""
    now = clock.now()
    found = [
        s
        for s in _published(timebook_id, f"{day:%Y-%m}", location_id, now)
        if s.start[:10] == day.isoformat() and s.free
    ]
    return sorted(found, key=lambda s: by_instant(s.start, s.location_id))


def _published(timebook_id: str, month: str, location_id: str | None, now: datetime) -> Iterator[OpenSlot]:
    """The published slots of a month that have not begun, with their free places counted now (a
    hold that expired since the publication counts as free)."""
    now_epoch = clock.epoch(now)
    for slot in for_view(timebook_id, month, location_id).slots:
        if (location_id and slot.location_id != location_id) or begun(datetime.fromisoformat(slot.start), now):
            continue
        yield OpenSlot(slot.slot_id, slot.start, slot.end, slot.location_id, slot.free(now_epoch))


class SummaryPages:
    """The summaries one request has read, month by month, handed again to its next attempt (after
    a lost race) from memory, as lazily as the Query read them: only the stream's publisher
    changes them, about once a second, so a second Query within the request would read the same
    (issue 20: the attempts' Queries were a third of the month partition's reads)."""

    def __init__(self) -> None:
        self._months: dict[str, tuple[list[DaySummary], Iterator[DaySummary]]] = {}

    def of(self, month: str, query: Callable[[], Iterator[DaySummary]]) -> Iterator[DaySummary]:
        if month not in self._months:
            self._months[month] = ([], query())
        read, rest = self._months[month]
        index = 0
        while True:
            if index == len(read):
                following = next(rest, None)
                if following is None:
                    return
                read.append(following)
            yield read[index]
            index += 1


def first_free(
    timebook_id: str,
    location_id: str | None,
    from_day: date,
    months: int = 3,
    spread_places: int | None = None,
    pages: SummaryPages | None = None,
) -> Iterator[Availability]:
    """Free slots from a day on, earliest first by groups of about `spread_places` places (for
    "first available"; 0 = strictly earliest first; by default 24 places, up to 96 in a crowd).

    The summaries say which slots look free (one Query a month, however full). The earliest
    slots that together look to have `spread_places` free places form a group; a group's slots
    are read from the slots themselves, consistently, CANDIDATE_BATCH at a time and in random
    order, so a caller chooses among places that are free now, and a crowd choosing "the first
    few" of them spreads over the whole group instead of colliding on its first slots. `pages`:
    the summaries this request read in an earlier attempt, not read again."""
    tb = get_timebook(timebook_id)
    pages = pages or SummaryPages()
    if location_id:
        location_of(tb, location_id)
    spread = _spread_for(tb.id) if spread_places is None else spread_places
    group: list[OpenSlot] = []
    for index, month in enumerate(months_from(from_day, months)):
        empty = (tb.id, location_id, month)
        if index and _empty_months.fresh(empty):
            continue
        seen = False
        summaries = (  # lazily, a page of FIRST_FREE_PAGE summaries a request, so it stops early
            s
            for s in pages.of(
                month,
                lambda month=month, index=index: repository.query_summaries(
                    tb.id, month, from_day=from_day if index == 0 else None, page_size=FIRST_FREE_PAGE
                ),
            )
            if not location_id or s.location_id == location_id
        )
        for _, of_day in groupby(summaries, key=lambda s: s.date):
            seen = True
            for slot in _looking_free(_fresh(of_day)):
                group.append(slot)
                if sum(s.free for s in group) >= spread:
                    yield from _truly_free(group, shuffle=spread > 0)
                    group = []
        if index and not seen:  # a whole month without slots
            _empty_months.put(empty, True)
    yield from _truly_free(group, shuffle=spread > 0)


def first_day_looking_free(
    timebook_id: str, now: datetime, months: int = 3, *, location_id: str | None = None, from_day: date | None = None
) -> date | None:
    """The first day from `from_day` on (today by default) on which a place of the timebook (at
    the location, if named) looks free in the published documents, in the months "first
    available" looks at (no table read; a hold that lapsed counts free); None: none looks free.
    A "first available" hold starts its Query of the summaries there, so the days sold out before
    it cost nothing, and answers the crowd after the last place from it (booking/holds.py)."""
    start = max(from_day or clock.local(now).date(), clock.local(now).date())
    for month in months_from(start, months):
        days = [
            slot.start[:10]  # the local date
            for slot in _published(timebook_id, month, location_id, now)
            if slot.free and slot.start[:10] >= start.isoformat()
        ]
        if days:
            return date.fromisoformat(min(days))
    return None


def locations_looking_free(
    timebook_id: str, now: datetime, locations: Sequence[str], months: int = 3
) -> frozenset[str]:
    """Which of the timebook's locations have a place that looks free from now on, in the months
    "first available" looks at, as the public views see them (the published documents: no table
    read; a hold that lapsed counts free); the reading stops once every one of `locations` is
    found free. The waiting room's step tells the line what is sold out."""
    today = clock.local(now).date()
    found: set[str] = set()
    for month in months_from(today, months):
        found.update(slot.location_id for slot in _published(timebook_id, month, None, now) if slot.free)
        if found and found >= set(locations):
            break
    return frozenset(found)


def _looking_free(summaries: list[DaySummary]) -> list[OpenSlot]:
    """The slots of one day that the summaries say have a free place, by start."""
    now = clock.now()
    return sorted(
        (slot for summary in summaries for slot in _open_slots(summary, now) if slot.free),
        key=lambda s: by_instant(s.start, s.location_id),
    )


def _truly_free(candidates: list[OpenSlot], shuffle: bool) -> Iterator[Availability]:
    if shuffle:
        candidates = random.sample(candidates, len(candidates))
    for first in range(0, len(candidates), CANDIDATE_BATCH):
        budget.check()
        refs = [ref for c in candidates[first : first + CANDIDATE_BATCH] if (ref := parse_slot_id(c.slot_id))]
        read_at = clock.now()
        found = [
            (slot, free)
            for slot in repository.get_slots(refs, consistent=True)
            if not slot.begun(read_at) and (free := slot.free_places(read_at))
        ]
        for index, (slot, free) in enumerate(found):
            yield Availability(slot, free, ends_batch=index == len(found) - 1)
