"""The waitlist's reads and guarded writes (domain/waitlist.py has the rule).

An offer takes a place by the capacity rule (`claims.place_is_free`) and moves the entry
from `waiting` to `offered` in one transaction, with the inbox event (an EventItem, which the
table's stream takes to the relay): a freed place goes
to exactly one entry, and an entry never holds two offers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.capacity import Claim
from chalicelib.domain.model import Event, Person
from chalicelib.domain.slots import SlotRef
from chalicelib.domain.waitlist import Entry, Guard, Offer
from chalicelib.storage import keys, mapping
from chalicelib.storage.claims import claim_is, person_part, place_attr, place_is_free, slot_key_item
from chalicelib.storage.models import (
    EventItem,
    MarkerItem,
    SlotItem,
    WaitlistEntryItem,
    WaitlistGuardItem,
    WaitlistsItem,
)
from chalicelib.storage.transactions import ConditionFailed, Transaction, get_item

# The names a fake replaces (storage/repository.py says how).
__all__ = [
    "NewOffer",
    "end",
    "entries_of_people",
    "get_entry",
    "get_guard",
    "join",
    "offer",
    "position_in_queue",
    "queue",
    "queue_pages",
    "take_back_offer",
    "tell_once",
    "timebooks_with_waitlists",
]


def prepare_entry(entry: WaitlistEntryItem) -> WaitlistEntryItem:
    entry.pk, entry.sk = keys.waitlist_entry(entry.id)
    entry.gsi1pk = keys.waitlist_of_person(entry.for_pid)
    entry.gsi1sk = keys.waitlist_sort(entry.created_at, entry.id)
    entry.gsi2pk = keys.waitlist_queue(entry.timebook_id)
    entry.gsi2sk = keys.waitlist_sort(entry.created_at, entry.id)
    return entry


def _guard(timebook_id: str, pid: str) -> WaitlistGuardItem:
    pk, sk = keys.waitlist_guard(timebook_id, pid)
    return WaitlistGuardItem(pk, sk)


def join(new: Entry) -> None:
    """Write a new entry, if the person has no live entry in this timebook (else ConditionFailed
    naming "guard"). The timebook is registered for the every-minute sweep in the same step."""
    entry = prepare_entry(mapping.entry_item(new))
    guard = _guard(entry.timebook_id, entry.for_pid)
    guard.entry_id, guard.live, guard.ttl = entry.id, True, new.ends_epoch
    registry_pk, registry_sk = keys.waitlists(entry.timebook_id)
    registry = WaitlistsItem(
        registry_pk,
        registry_sk,
        gsi1pk=keys.WAITLISTS,
        gsi1sk=entry.timebook_id,
        timebook_id=entry.timebook_id,
        stamp=entry.id,  # someone new waits: a hold that read the old stamp looks again
    )
    tx = Transaction()
    joined = int(datetime.fromisoformat(new.created_at).timestamp())  # now, as the entry says
    free = WaitlistGuardItem.pk.does_not_exist() | (WaitlistGuardItem.live == False)  # noqa: E712
    tx.save("guard", guard, free | (WaitlistGuardItem.ttl <= joined))  # a live entry past its end counts no more
    tx.save("entry", entry, WaitlistEntryItem.pk.does_not_exist())
    tx.save("registry", registry)
    tx.commit()


def get_guard(timebook_id: str, pid: str) -> Guard | None:
    pk, sk = keys.waitlist_guard(timebook_id, pid)
    item = get_item(WaitlistGuardItem, pk, sk, consistent=True)
    return Guard(item.entry_id, bool(item.live)) if item is not None else None


def get_entry(entry_id: str, consistent: bool = False) -> Entry | None:
    pk, sk = keys.waitlist_entry(entry_id)
    item = get_item(WaitlistEntryItem, pk, sk, consistent)
    return mapping.entry(item) if item is not None else None


def queue(timebook_id: str, limit: int = 100) -> list[Entry]:
    """Live entries of a timebook, first come first (an index read: the writes' conditions decide)."""
    return [
        mapping.entry(item) for item in WaitlistEntryItem.queue.query(keys.waitlist_queue(timebook_id), limit=limit)
    ]


def queue_pages(timebook_id: str, page_size: int = 100) -> Iterator[list[Entry]]:
    """All live entries of a timebook, first come first, a page at a time (read lazily: a caller
    that stops early reads no more)."""
    page: list[Entry] = []
    for item in WaitlistEntryItem.queue.query(keys.waitlist_queue(timebook_id), page_size=page_size):
        page.append(mapping.entry(item))
        if len(page) >= page_size:
            yield page
            page = []
    if page:
        yield page


def position_in_queue(entry: Entry, most: int) -> int | None:
    """A live entry's place in its timebook's line, 1-based: the live entries before it, counted
    by a COUNT query of the queue index from its head (no item comes back; DynamoDB still reads
    what it counts), at most `most` of them: None when more are ahead (a long line costs no more
    than that). An offer that lapsed since the last sweep counts for at most a minute."""
    ahead = WaitlistEntryItem.queue.count(
        keys.waitlist_queue(entry.timebook_id),
        WaitlistEntryItem.gsi2sk < keys.waitlist_sort(entry.created_at, entry.id),
        limit=most + 1,
    )
    return ahead + 1 if ahead <= most else None


def timebooks_with_waitlists() -> list[str]:
    return [item.timebook_id for item in WaitlistsItem.registry.query(keys.WAITLISTS)]


def entries_of_people(pids: Iterable[str], limit: int, after: str | None) -> tuple[list[Entry], str | None]:
    """Entries of these people, newest first, a page at a time: (items, the sort key to continue
    after, or None).

    Each person's entries are read newest first from where the page starts, at most limit + 1 of
    them (never their whole history), and merged."""
    found: list[WaitlistEntryItem] = []
    condition = WaitlistEntryItem.gsi1sk < after if after is not None else None
    for pid in dict.fromkeys(pids):
        found.extend(
            WaitlistEntryItem.by_person.query(
                keys.waitlist_of_person(pid), condition, scan_index_forward=False, limit=limit + 1
            )
        )
    found.sort(key=lambda e: e.gsi1sk, reverse=True)
    page = found[:limit]
    more = len(found) > limit
    return [mapping.entry(item) for item in page], (page[-1].gsi1sk if more and page else None)


@dataclass
class NewOffer:
    """Everything an offer writes: the hold on the place, the entry's new state, the inbox event."""

    entry: Entry
    slot: SlotRef
    place: int
    claim: Claim  # the hold's claim, naming the entry (`waitlist`)
    offer: Offer
    event: Event
    updated_at: str
    person: Person | None = None  # the person's item as read: the offer becomes their one hold
    free_old: tuple[SlotRef, int, str] | None = None  # their previous live hold: slot, place, id
    lane: int | None = None  # a lane they must still have free (the per-person limit)


def offer(new: NewOffer, now_epoch: int) -> None:
    """Take a free place as a hold for the waiting person and mark the entry offered, at once.

    The place must be free by the capacity rule; the entry must still be `waiting` at the version
    read. ConditionFailed names "place" or "entry"."""
    entry = new.entry
    shard = random.randrange(keys.HOLD_SWEEP_SHARDS)
    slot_actions = [
        place_attr(new.place).set(new.claim.as_item()),
        # The hold sweep tidies the claim once it lapses; an earlier sweep time is kept.
        SlotItem.gsi2pk.set(SlotItem.gsi2pk | keys.holds_to_sweep(shard)),
        SlotItem.gsi2sk.set(SlotItem.gsi2sk | keys.sweep_sort(new.claim.expires_at)),
    ]
    tx = Transaction()
    slot_condition = place_is_free(new.place, now_epoch)
    if new.free_old is not None:  # a person has one live hold per timebook: the offer replaces it
        old_ref, old_place, old_id = new.free_old
        if old_ref.slot_id == new.slot.slot_id:
            slot_actions.append(place_attr(old_place).remove())  # one item is one part of a transaction
            slot_condition &= claim_is(old_place, old_id)
        else:
            tx.update("old", slot_key_item(old_ref), [place_attr(old_place).remove()], claim_is(old_place, old_id))
    tx.update("place", slot_key_item(new.slot), slot_actions, slot_condition)
    if new.person is not None:
        person_part(tx, new.person, now_epoch, set_hold=(new.claim.ref, new.claim.expires_at), lane_free=new.lane)
    tx.update(
        "entry",
        WaitlistEntryItem(*keys.waitlist_entry(entry.id)),
        [
            WaitlistEntryItem.status.set("offered"),
            WaitlistEntryItem.offer.set(mapping.offer_item(new.offer)),
            WaitlistEntryItem.version.set(entry.version + 1),
            WaitlistEntryItem.updated_at.set(new.updated_at),
        ],
        (WaitlistEntryItem.status == "waiting") & (WaitlistEntryItem.version == entry.version),
    )
    tx.save("event", mapping.event_item(new.event), EventItem.pk.does_not_exist())
    tx.commit()


def end(
    entry: Entry,
    status: str,
    expected_status: Iterable[str],
    updated_at: str,
    release: tuple[SlotRef, int, str] | None = None,
) -> None:
    """An entry stops being live (booked, expired, withdrawn): it leaves the queue and the person
    may join again. `release` also frees the open offer's place, if it still carries that hold."""
    tx = Transaction()
    tx.update(
        "entry",
        WaitlistEntryItem(*keys.waitlist_entry(entry.id)),
        [
            WaitlistEntryItem.status.set(status),
            WaitlistEntryItem.version.set(entry.version + 1),
            WaitlistEntryItem.updated_at.set(updated_at),
            WaitlistEntryItem.gsi2pk.remove(),
            WaitlistEntryItem.gsi2sk.remove(),
        ],
        WaitlistEntryItem.status.is_in(*expected_status) & (WaitlistEntryItem.version == entry.version),
    )
    tx.update(
        "guard",
        _guard(entry.timebook_id, entry.for_pid),
        [WaitlistGuardItem.live.set(False)],
        WaitlistGuardItem.entry_id == entry.id,
    )
    if release is not None:
        ref, place, hold_id = release
        tx.update("place", slot_key_item(ref), [place_attr(place).remove()], claim_is(place, hold_id))
    tx.commit()


def take_back_offer(entry: Entry, ref: SlotRef, place: int, hold_id: str, updated_at: str) -> None:
    """An offer in a slot staff closed: the entry waits again (its place in line kept) and the
    offer's hold leaves the place, at once."""
    tx = Transaction()
    tx.update(
        "entry",
        WaitlistEntryItem(*keys.waitlist_entry(entry.id)),
        [
            WaitlistEntryItem.status.set("waiting"),
            WaitlistEntryItem.offer.remove(),
            WaitlistEntryItem.version.set(entry.version + 1),
            WaitlistEntryItem.updated_at.set(updated_at),
        ],
        (WaitlistEntryItem.status == "offered") & (WaitlistEntryItem.version == entry.version),
    )
    tx.update("place", slot_key_item(ref), [place_attr(place).remove()], claim_is(place, hold_id))
    # The entry waits again: a hold that read the registry's old stamp looks again (holds.take_hold).
    tx.update(
        "registry",
        WaitlistsItem(*keys.waitlists(entry.timebook_id)),
        [WaitlistsItem.stamp.set(f"{entry.id}.{entry.version + 1}")],
    )
    tx.commit()


def tell_once(marker_key: tuple[str, str], event: Event) -> bool:
    """Write an event once per marker (a closure telling one entry): False if it was told before."""
    tx = Transaction()
    tx.save("marker", MarkerItem(*marker_key, state="told"), MarkerItem.pk.does_not_exist())
    tx.save("event", mapping.event_item(event), EventItem.pk.does_not_exist())
    try:
        tx.commit()
    except ConditionFailed as lost:
        if "marker" in lost.failed:
            return False
        raise
    return True
