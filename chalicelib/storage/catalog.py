"""Health contacts and timebooks (with their locations): written by staff set-up, read by every
hold and booking (through the use cases' short cache)."""

from __future__ import annotations

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
    Transaction,
    get_item,
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
