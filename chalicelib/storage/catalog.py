"""Health contacts and timebooks (with their locations): written by staff set-up, read by every
hold and booking (through the use cases' short cache)."""

from __future__ import annotations

from collections.abc import Collection

from pynamodb.exceptions import UpdateError

from chalicelib.domain.model import (
    HealthContact,
    Location,
    Timebook,
)
from chalicelib.storage import keys, mapping
from chalicelib.storage.models import (
    HealthContactItem,
    HerIdItem,
    TimebookItem,
)
from chalicelib.storage.transactions import (
    ConditionFailed,
    Transaction,
    get_item,
    is_condition_failure,
    retrying,
)


def create_health_contact(contact: HealthContact, created_at: str) -> None:
    """The HER-id guard and the health contact are written together: a HER-id is registered once."""
    item = mapping.health_contact_item(contact, created_at)
    item.pk, item.sk = keys.health_contact(item.id)
    item.gsi1pk, item.gsi1sk = keys.HEALTH_CONTACTS, keys.by_name(item.name, item.id)
    guard_pk, guard_sk = keys.her_id(item.her_id)
    guard = HerIdItem(guard_pk, guard_sk, health_contact_id=item.id)
    tx = Transaction()
    tx.save("her_id", guard, HerIdItem.pk.does_not_exist())
    tx.save("health_contact", item, HealthContactItem.pk.does_not_exist())
    tx.commit()  # throttling or a fault is raised as such (429/503), never as "taken"


def list_health_contacts() -> list[HealthContact]:
    return [mapping.health_contact(item) for item in HealthContactItem.by_name.query(keys.HEALTH_CONTACTS)]


def get_health_contact(hc_id: str) -> HealthContact | None:
    pk, sk = keys.health_contact(hc_id)
    item = get_item(HealthContactItem, pk, sk)
    return mapping.health_contact(item) if item is not None else None


def create_timebook(timebook: Timebook, created_at: str) -> None:
    item = mapping.timebook_item(timebook, created_at)
    item.pk, item.sk = keys.timebook(item.id)
    item.gsi1pk, item.gsi1sk = keys.timebooks_of(item.health_contact_id), keys.by_name(item.name, item.id)
    retrying(lambda: item.save(condition=TimebookItem.pk.does_not_exist()))


def list_timebooks(hc_id: str) -> list[Timebook]:
    return [mapping.timebook(item) for item in TimebookItem.by_health_contact.query(keys.timebooks_of(hc_id))]


def get_timebook(timebook_id: str) -> Timebook | None:
    pk, sk = keys.timebook(timebook_id)
    item = get_item(TimebookItem, pk, sk)
    return mapping.timebook(item) if item is not None else None


def add_location(timebook_id: str, location: Location) -> None:
    retrying(
        lambda: TimebookItem(*keys.timebook(timebook_id)).update(
            actions=[TimebookItem.locations.set(TimebookItem.locations.append([mapping.location_item(location)]))],
            condition=TimebookItem.pk.exists(),
        )
    )


def set_slot_minutes(timebook_id: str, slot_minutes: int) -> None:
    retrying(
        lambda: TimebookItem(*keys.timebook(timebook_id)).update(actions=[TimebookItem.slot_minutes.set(slot_minutes)])
    )


def change_timebook_settings(
    timebook: Timebook, read_version: int, removed_waves: Collection[str] = (), drop_lists: bool = False
) -> None:
    """Write the timebook's settings if its version is still `read_version` (else ConditionFailed
    naming "timebook"); the version goes up by one. Only the settings are set, so a location added
    meanwhile stays. `removed_waves`: the ids of the waves this change leaves out; their priority
    lists are dropped with them if `drop_lists`, else none of them may have one (a list marked
    since the caller read is ConditionFailed too: queue.add_wave_people marks before it writes)."""
    unchanged = TimebookItem.version == read_version
    if read_version == 0:
        unchanged = unchanged | TimebookItem.version.does_not_exist()
    if not drop_lists:
        for wave_id in removed_waves:
            unchanged = unchanged & ~TimebookItem.listed_waves.contains(wave_id)
    actions = [
        TimebookItem.requires_confirmation.set(timebook.requires_confirmation),
        TimebookItem.hold_minutes.set(timebook.hold_minutes),
        TimebookItem.cancel_deadline_hours.set(timebook.cancel_deadline_hours),
        TimebookItem.waitlist_offer_minutes.set(timebook.waitlist_offer_minutes),
        TimebookItem.retention_days.set(timebook.retention_days),
        TimebookItem.waves.set(mapping.waves_item(timebook.waves)),
        TimebookItem.version.set(read_version + 1),
    ]
    limit, room = timebook.max_active_per_person, mapping.waiting_room_item(timebook.waiting_room)
    no_limit, no_room = TimebookItem.max_active_per_person.remove(), TimebookItem.waiting_room.remove()
    actions.append(TimebookItem.max_active_per_person.set(limit) if limit else no_limit)
    actions.append(TimebookItem.waiting_room.set(room) if room is not None else no_room)
    if drop_lists and removed_waves:
        actions.append(TimebookItem.listed_waves.delete(set(removed_waves)))
    try:
        retrying(
            lambda: TimebookItem(*keys.timebook(timebook.id)).update(
                actions=actions, condition=TimebookItem.pk.exists() & unchanged
            )
        )
    except UpdateError as error:
        if is_condition_failure(error):
            raise ConditionFailed(["timebook"]) from error
        raise
