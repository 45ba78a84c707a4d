"""The waiting room's reads and writes (domain/queue.py has the rules; docs/capacity.md the arithmetic).

No item is written by every arrival: a ticket is its person's own item (a conditional put: one per
person and timebook), listed in one of `keys.QUEUE_SHARDS` index partitions by the person's hash
and sorted there by arrival number. The room's state is one item written once per admission step;
polls read it through a per-process cache (booking/queue.py), never per request.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.queue import ListEntry, Restamp, RoomState
from chalicelib.storage import keys
from chalicelib.storage.models import QueueItem, TimebookItem, plain
from chalicelib.storage.transactions import ConditionFailed, get_item, is_condition_failure, retrying

# The names a fake replaces (storage/repository.py says how).
__all__ = [
    "add_shed",
    "add_wave_people",
    "ask_restamp",
    "get_restamp",
    "get_room",
    "join_queue",
    "list_entries",
    "open_room",
    "rooms",
    "save_restamp",
    "save_room",
    "shed_total",
    "stamp_entries",
    "unfinished_restamps",
    "waiting_after",
    "waves_of_person",
]


def join_queue(timebook_id: str, person: str, arrival: int, ttl: int) -> tuple[int, bool]:
    """The person's arrival number in the room: `arrival` if this is their first ticket (True),
    else the one they already have (False). Concurrent first requests: one put wins."""
    pk, sk = keys.queue_person(timebook_id, person)
    item = QueueItem(
        pk,
        sk,
        gsi1pk=keys.queue_arrivals(timebook_id, keys.queue_shard(person)),
        gsi1sk=keys.arrival_sort(arrival),
        arrival=arrival,
        ttl=ttl,
    )
    try:
        item.save(condition=QueueItem.pk.does_not_exist())
    except PutError as error:
        if not is_condition_failure(error):
            raise
        found = get_item(QueueItem, pk, sk, consistent=True)
        if found is None or found.arrival is None:  # removed meanwhile (TTL): a lost race, retried by the caller
            raise ConditionFailed(["ticket"]) from error
        return int(found.arrival), False
    return arrival, True


def waiting_after(timebook_id: str, after: int) -> list[int]:
    """Every arrival number above `after`, in order: one Query per shard, merged."""
    above = QueueItem.gsi1sk > keys.arrival_sort(after) if after >= 0 else None
    shards = [
        [int(item.arrival) for item in QueueItem.by_arrival.query(keys.queue_arrivals(timebook_id, shard), above)]
        for shard in range(keys.QUEUE_SHARDS)
    ]
    return list(heapq.merge(*shards))


def _state_item(state: RoomState) -> dict[str, Any]:
    return {
        "admitted_up_to": state.admitted_up_to,
        "rate_per_minute": str(state.rate_per_minute),
        "stepped_at": state.stepped_at,
        "shed_seen": state.shed_seen,
        "carry": str(state.carry),
        "waiting": state.waiting,
        "spacing": state.spacing,
        "mileposts": list(state.mileposts),
        "sold_out": state.sold_out,
        "sold_out_locations": list(state.sold_out_locations),
        "plan": list(state.plan),
        "plan_from": repr(state.plan_from),
    }


def _state(item: QueueItem) -> RoomState:
    raw = item.state.as_dict() if item.state is not None and hasattr(item.state, "as_dict") else dict(item.state or {})
    return RoomState(
        admitted_up_to=int(raw.get("admitted_up_to", -1)),
        rate_per_minute=float(raw.get("rate_per_minute", 0) or 0),
        stepped_at=int(raw.get("stepped_at", 0)),
        shed_seen=int(raw.get("shed_seen", 0)),
        carry=float(raw.get("carry", 0) or 0),
        waiting=int(raw.get("waiting", 0)),
        spacing=int(raw.get("spacing", 1)),
        mileposts=tuple(int(n) for n in raw.get("mileposts") or ()),
        version=int(item.count or 0),
        sold_out=bool(raw.get("sold_out", False)),
        sold_out_locations=tuple(str(x) for x in raw.get("sold_out_locations") or ()),
        plan=tuple(int(n) for n in raw.get("plan") or ()),
        plan_from=float(raw.get("plan_from", 0) or 0),
    )


def get_room(timebook_id: str, consistent: bool = False) -> RoomState | None:
    pk, sk = keys.queue_room(timebook_id)
    item = get_item(QueueItem, pk, sk, consistent)
    return _state(item) if item is not None else None


def _room_item(timebook_id: str, state: RoomState) -> QueueItem:
    pk, sk = keys.queue_room(timebook_id)
    return QueueItem(pk, sk, gsi1pk=keys.QUEUE_ROOMS, gsi1sk=timebook_id, count=state.version, state=_state_item(state))


def open_room(timebook_id: str, opened_at: int) -> bool:
    """Register a room for the admission schedule (once; False if it was there). Its first step
    admits by the time since `opened_at` (epoch seconds), not a whole minute's worth at once."""
    try:
        _room_item(timebook_id, RoomState(stepped_at=opened_at)).save(condition=QueueItem.pk.does_not_exist())
    except PutError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def save_room(timebook_id: str, state: RoomState) -> None:
    """The state of one step, if no other step came between (else ConditionFailed naming "room")."""
    try:
        _room_item(timebook_id, state).save(condition=QueueItem.count == state.version - 1)
    except PutError as error:
        if is_condition_failure(error):
            raise ConditionFailed(["room"]) from error
        raise


def rooms() -> list[str]:
    return [str(item.gsi1sk) for item in QueueItem.by_arrival.query(keys.QUEUE_ROOMS)]


def add_shed(count: int) -> None:
    """Add 429s answered to one of the shed counters (a random one: none is hot)."""
    pk, sk = keys.shed_counter(random.randrange(keys.SHED_SHARDS))
    QueueItem(pk, sk).update(actions=[QueueItem.count.add(count)])


def shed_total() -> int:
    found = QueueItem.batch_get([keys.shed_counter(shard) for shard in range(keys.SHED_SHARDS)])
    return sum(int(item.count or 0) for item in found)


def add_wave_people(timebook_id: str, wave_id: str, people: Sequence[str], ttl: int, read_version: int) -> int:
    """Put the people (keyed hashes) on the priority list of the wave `wave_id`, one item each (the
    same person again is the same item), removed by TTL at `ttl`. First the timebook is marked as
    listing that wave, if its settings are still those of `read_version` (else ConditionFailed:
    the wave may have gone meanwhile); a settings change that would drop a marked wave is refused
    (catalog.change_timebook_settings), so no list is lost to a PATCH racing it. The number of
    people written. Each entry is indexed for the walk that stamps the lists again when a settings
    change moves their lifetime, and carries `read_version`: the settings its `ttl` came from."""
    unchanged = TimebookItem.version == read_version
    if read_version == 0:
        unchanged = unchanged | TimebookItem.version.does_not_exist()
    try:
        retrying(
            lambda: TimebookItem(*keys.timebook(timebook_id)).update(
                actions=[TimebookItem.priority_lists.set(True), TimebookItem.listed_waves.add({wave_id})],
                condition=TimebookItem.pk.exists() & unchanged,
            )
        )
    except UpdateError as error:
        if is_condition_failure(error):
            raise ConditionFailed(["timebook"]) from error
        raise
    with QueueItem.batch_write() as batch:
        for person in dict.fromkeys(people):
            batch.save(
                QueueItem(
                    keys.wave_person(timebook_id, person),
                    keys.wave_entry(wave_id),
                    gsi1pk=keys.wave_lists(timebook_id),
                    gsi1sk=keys.wave_list_sort(person, wave_id),
                    count=read_version,
                    ttl=ttl,
                )
            )
    return len(dict.fromkeys(people))


def waves_of_person(timebook_id: str, person: str, now_epoch: int) -> list[str]:
    """The ids of the waves whose priority lists name the person: one Query of their own small
    partition. A list past its lifetime counts for nothing though DynamoDB removes it days late
    (moto never)."""
    found = QueueItem.query(keys.wave_person(timebook_id, person))
    return [item.sk.removeprefix(keys.WAVE_ENTRY) for item in found if item.ttl is None or item.ttl > now_epoch]


# ---- stamping the lists again when their lifetime moves (booking/queue.py restamp_lists) ----------


def list_entries(timebook_id: str, after: str | None, limit: int) -> tuple[list[ListEntry], str | None]:
    """One page of the timebook's list entries (every wave's), in the index's order after `after`;
    and the `after` of the next page (None: this was the last)."""
    above = QueueItem.gsi1sk > after if after else None
    found = list(QueueItem.by_arrival.query(keys.wave_lists(timebook_id), above, limit=limit))
    entries = []
    for item in found:
        person, wave_id = keys.wave_list_entry_of(str(item.gsi1sk))
        ttl = int(item.ttl) if item.ttl is not None else None
        entries.append(ListEntry(person, wave_id, ttl, int(item.count) if item.count is not None else -1))
    return entries, (str(found[-1].gsi1sk) if found and len(found) >= limit else None)


def stamp_entries(timebook_id: str, entries: Sequence[ListEntry], ttl: int, version: int) -> int:
    """Give the entries the lifetime `ttl` of the settings of `version`: each only while it is
    there (one TTL removed is not brought back) and carries older settings (the newest waves
    win, whatever the order the stamps land in). The number stamped."""
    return sum(
        _stamp(QueueItem(keys.wave_person(timebook_id, e.person), keys.wave_entry(e.wave_id)), ttl, version)
        for e in entries
    )


def _stamp(item: QueueItem, ttl: int, version: int) -> bool:
    older = QueueItem.count.does_not_exist() | (QueueItem.count < version)
    try:
        retrying(
            lambda: item.update(
                actions=[QueueItem.ttl.set(ttl), QueueItem.count.set(version)],
                condition=QueueItem.pk.exists() & older,
            )
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def ask_restamp(timebook_id: str, asked_at: int) -> int:
    """Ask for a walk of the timebook's lists from the start (the schedule finishes it if the
    asker does not); its generation: a walk of an older one stops at its next save. `asked_at`
    (epoch seconds) is kept from the first ask since the last walk finished."""
    item = QueueItem(*keys.lists_restamp(timebook_id))
    retrying(
        lambda: item.update(
            actions=[
                QueueItem.count.add(1),
                QueueItem.arrival.set(QueueItem.arrival | asked_at),
                QueueItem.gsi1pk.set(keys.UNFINISHED_RESTAMPS),
                QueueItem.gsi1sk.set(timebook_id),
                QueueItem.state.remove(),
            ]
        )
    )
    return int(item.count or 0)


def get_restamp(timebook_id: str) -> Restamp | None:
    """The walk asked for and not finished, with how far it got; None: none."""
    item = get_item(QueueItem, *keys.lists_restamp(timebook_id), consistent=True)
    if item is None or item.gsi1pk is None:
        return None
    after = plain(item.state).get("after") or None
    return Restamp(timebook_id, int(item.count or 0), after, int(item.arrival or 0))


def save_restamp(job: Restamp, done: bool) -> bool:
    """Save how far the walk got, or that it is done, if no newer walk was asked for meanwhile
    (False: that one stamps from the start)."""
    if done:
        actions = [
            QueueItem.gsi1pk.remove(),
            QueueItem.gsi1sk.remove(),
            QueueItem.state.remove(),
            QueueItem.arrival.remove(),
        ]
    else:
        actions = [QueueItem.state.set({"after": job.after})]
    try:
        retrying(
            lambda: QueueItem(*keys.lists_restamp(job.timebook_id)).update(
                actions=actions, condition=QueueItem.count == job.generation
            )
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def unfinished_restamps() -> list[str]:
    """The timebooks whose lists a walk has yet to stamp."""
    return [str(item.gsi1sk) for item in QueueItem.by_arrival.query(keys.UNFINISHED_RESTAMPS)]
