"""Slots and their per-day availability summaries: reading slots (always through the summaries,
which name them), creating them from a schedule, recounting and invalidating summaries, and the
sweep that tidies lapsed holds (correctness never waits for it: an expired hold is free)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.clock import OSLO
from chalicelib.domain.availability import DaySummary, SlotSummary, empty, summarize
from chalicelib.domain.model import (
    Slot,
)
from chalicelib.domain.slots import SlotRef
from chalicelib.storage import claims, keys, mapping
from chalicelib.storage.models import (
    DaySummaryItem,
    SlotItem,
)
from chalicelib.storage.transactions import (
    connection,
    get_item,
    is_condition_failure,
    is_conflict,
    retrying,
)


def query_summaries(
    timebook_id: str,
    month: str,
    *,
    day: date | None = None,
    from_day: date | None = None,
    page_size: int | None = None,
) -> Iterator[DaySummary]:
    """Availability summaries of one timebook-month, by date then location; optionally of one
    day or from a day on. One Query of one partition (read lazily, page by page); its cost depends
    on how many slots the month has, not on how many are taken. `page_size` bounds what one
    request reads ("first available" stops early: a few summaries a request, not the month)."""
    partition = keys.summary_partition(timebook_id, month)
    condition = None
    if day is not None:
        condition = DaySummaryItem.sk.startswith(keys.summary_day_prefix(day))
    elif from_day is not None:
        condition = DaySummaryItem.sk >= keys.summary_sort(from_day.isoformat())
    return (mapping.day_summary(item) for item in DaySummaryItem.query(partition, condition, page_size=page_size))


def refresh_summaries(summaries: Sequence[DaySummary], now_epoch: int, now_ms: int) -> list[DaySummary]:
    """Recount the slots of these summaries (one BatchGetItem per 100 slots) and store the result
    unless slots were added meanwhile (`version`); returns the recounted summaries either way."""
    by_id = {slot.slot_id: slot for slot in get_slots([ref for summary in summaries for ref in summary.refs()])}
    recounted = []
    for summary in summaries:
        entries = []
        for old, ref in zip(summary.entries, summary.refs(), strict=True):
            slot = by_id.get(ref.slot_id)
            if slot is None:  # listed before it was written (add_schedule writes slots first): none free
                entries.append(SlotSummary(old.hhmm, old.capacity, old.minutes, old.capacity, ()))
                continue
            entries.append(summarize(old.hhmm, slot.offered_places, old.minutes, slot.claims, now_epoch))
        pk, sk = keys.day_summary(summary.timebook_id, summary.day, summary.location_id)
        try:
            DaySummaryItem(pk, sk).update(
                actions=[
                    DaySummaryItem.slots.set({e.hhmm: e.as_item() for e in entries}),
                    DaySummaryItem.refreshed_at.set(now_ms),
                ],
                condition=DaySummaryItem.version == summary.version,
            )
        except UpdateError as error:
            if not (is_condition_failure(error) or is_conflict(error)):  # a cache: another writer's is as good
                raise
        recounted.append(replace(summary, entries=tuple(entries), refreshed_at=now_ms))  # fresh either way
    return recounted


def invalidate_summary(timebook_id: str, day: date, location_id: str) -> None:
    """Make the next reader recount a day (after a change that bypasses the places map, such as
    a capacity edit or a closure)."""
    pk, sk = keys.day_summary(timebook_id, day, location_id)
    with contextlib.suppress(UpdateError):
        DaySummaryItem(pk, sk).update(
            actions=[DaySummaryItem.refreshed_at.set(0)], condition=DaySummaryItem.pk.exists()
        )


def get_slots(refs: Sequence[SlotRef], consistent: bool = False) -> list[Slot]:
    """The slots named, in the order named (missing ones left out); BatchGetItem of 100 at a time."""
    return [mapping.slot(item) for item in _slot_items(refs, consistent)]


def _slot_items(refs: Sequence[SlotRef], consistent: bool) -> list[SlotItem]:
    if not refs:
        return []
    wanted = {keys.slot(ref): ref.slot_id for ref in refs}
    found: dict[str, SlotItem] = {}
    for slot in SlotItem.batch_get(list(wanted), consistent_read=consistent):
        if wanted.get((slot.pk, slot.sk)) == slot.slot_id:
            found[slot.slot_id] = slot
    return [found[ref.slot_id] for ref in refs if ref.slot_id in found]


def slots_of_day(timebook_id: str, day: date, location_id: str | None = None, consistent: bool = False) -> list[Slot]:
    """Every slot of a timebook on one day (optionally of one location), by start then location:
    the day's summaries name them, one BatchGetItem reads them."""
    return slots_between(timebook_id, day, day, location_id, consistent)


def slots_between(
    timebook_id: str, from_day: date, to_day: date, location_id: str | None = None, consistent: bool = False
) -> list[Slot]:
    """Every slot of a timebook from one day to another (both included), by start then location."""
    refs: list[SlotRef] = []
    month = date(from_day.year, from_day.month, 1)
    while month <= to_day:
        for summary in query_summaries(timebook_id, f"{month:%Y-%m}", from_day=from_day):
            if summary.date > to_day.isoformat():
                break
            if location_id is None or summary.location_id == location_id:
                refs.extend(summary.refs())
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return sorted(get_slots(refs, consistent), key=lambda s: (s.start, s.location_id))


def query_slots(
    timebook_id: str,
    month: str,
    *,
    day: date | None = None,
    from_day: date | None = None,
) -> Iterator[Slot]:
    """Slots of one timebook-month in start order; optionally of one day or from a day on."""
    first = date.fromisoformat(f"{month}-01")
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
    if day is not None:
        first = last = day
    elif from_day is not None:
        first = max(first, from_day)
    return iter(slots_between(timebook_id, first, last) if first <= last else [])


def get_slot(ref: SlotRef, consistent: bool = False) -> Slot | None:
    pk, sk = keys.slot(ref)
    slot = get_item(SlotItem, pk, sk, consistent)
    if slot is None or slot.slot_id != ref.slot_id:
        return None
    return mapping.slot(slot)


def create_slots(new_slots: Sequence[Slot]) -> int:
    """Create the slots that do not exist yet, then list them in their day summaries; returns
    how many slots were made.

    Existing slots are never overwritten (they carry claims): each put is conditional, in
    transactions of 100 (one guarded put each if a concurrent post made some). Summaries are
    written after the slots and only add entries that are missing, so posting the same window
    again repairs a summary a crash left short and changes nothing else.
    """
    if not new_slots:
        return 0
    slots = [_new_slot_item(slot) for slot in new_slots]
    created = 0
    for start in range(0, len(slots), 100):
        chunk = slots[start : start + 100]
        try:
            with TransactWrite(connection=connection()) as tx:
                for slot in chunk:
                    tx.save(slot, condition=SlotItem.pk.does_not_exist())
            created += len(chunk)
        except TransactWriteError:
            for slot in chunk:
                try:
                    retrying(lambda slot=slot: slot.save(condition=SlotItem.pk.does_not_exist()))
                    created += 1
                except PutError as error:
                    if not is_condition_failure(error):
                        raise
    _list_in_summaries(slots)
    return created


def _new_slot_item(slot: Slot) -> SlotItem:
    pk, sk = keys.slot_of_id(slot.slot_id)
    return SlotItem(
        pk,
        sk,
        slot_id=slot.slot_id,
        timebook_id=slot.timebook_id,
        location_id=slot.location_id,
        start=slot.start,
        end=slot.end,
        capacity=slot.capacity,
        places={},
    )


def _list_in_summaries(slots: Sequence[SlotItem]) -> None:
    by_day: dict[tuple[str, str, str], dict[str, SlotSummary]] = {}
    for slot in slots:
        start, end = datetime.fromisoformat(slot.start), datetime.fromisoformat(slot.end)
        local = start.astimezone(OSLO)
        minutes = round((end - start).total_seconds() / 60)  # real minutes (slots are stepped in UTC)
        entry = empty(f"{local:%H%M}{'f' if local.fold else ''}", int(slot.capacity), minutes)
        by_day.setdefault((slot.timebook_id, local.date().isoformat(), slot.location_id), {})[entry.hhmm] = entry
    for (timebook_id, day, location_id), entries in by_day.items():
        pk, sk = keys.day_summary(timebook_id, date.fromisoformat(day), location_id)
        item = DaySummaryItem(pk, sk)
        retrying(
            lambda item=item, timebook_id=timebook_id, location_id=location_id, day=day: item.update(
                actions=[
                    DaySummaryItem.slots.set(DaySummaryItem.slots | {}),
                    DaySummaryItem.timebook_id.set(timebook_id),
                    DaySummaryItem.location_id.set(location_id),
                    DaySummaryItem.date.set(day),
                    DaySummaryItem.version.add(1),
                ]
            )
        )
        names = sorted(entries)
        for first in range(0, len(names), 50):  # stays well inside DynamoDB's expression limits
            actions = [
                DaySummaryItem.slots[name].set(DaySummaryItem.slots[name] | entries[name].as_item())
                for name in names[first : first + 50]
            ]
            retrying(lambda item=item, actions=actions: item.update(actions=actions))


def tidy_expired_holds(now_epoch: int) -> int:
    """The every-minute sweep: remove lapsed holds from the slots that have any; returns how many."""
    return sum(_tidy_slot(slot, now_epoch) for slot in _slots_with_expired_holds(now_epoch))


def _slots_with_expired_holds(now_epoch: int) -> Iterator[SlotItem]:
    """Slots whose latest hold has expired (the sweep index is sparse: only slots with holds)."""
    for shard in range(keys.HOLD_SWEEP_SHARDS):
        yield from SlotItem.holds_to_sweep.query(
            keys.holds_to_sweep(shard), SlotItem.gsi2sk <= keys.sweep_sort(now_epoch)
        )


def _tidy_slot(slot: SlotItem, now_epoch: int) -> int:
    """Remove a slot's expired holds; returns how many. Correctness never depends on this:
    an expired hold already counts as free. Skips the slot if it changed since it was read."""
    held = mapping.claims(slot)
    expired = {p: c for p, c in held.items() if c.kind == "hold" and not c.live(now_epoch)}
    live_holds = [c for c in held.values() if c.kind == "hold" and c.live(now_epoch)]
    actions: list[Any] = [claims.place_attr(p).remove() for p in expired]
    if live_holds:
        actions.append(SlotItem.gsi2sk.set(keys.sweep_sort(max(c.expires_at for c in live_holds))))
    else:
        actions += [SlotItem.gsi2pk.remove(), SlotItem.gsi2sk.remove()]
    condition = SlotItem.gsi2sk == slot.gsi2sk
    for place, claim in expired.items():
        condition &= claims.claim_is(place, claim.ref)
    try:
        SlotItem(slot.pk, slot.sk).update(actions=actions, condition=condition)
    except UpdateError as error:
        if is_condition_failure(error) or is_conflict(error):  # the next sweep comes back to it
            return 0
        raise
    return len(expired)
