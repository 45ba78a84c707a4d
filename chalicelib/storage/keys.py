"""The key schema of the one Timebok table: every pk/sk/gsi string is made here.

See docs/access-patterns.md for which API call reads and writes which keys.
"""

from __future__ import annotations

from datetime import date

from chalicelib.domain.slots import SlotRef

HEALTH_CONTACTS = "HCS"  # gsi1: all health contacts, by name


def health_contact(hc_id: str) -> tuple[str, str]:
    return f"HC#{hc_id}", "HC"


def her_id(her: str) -> tuple[str, str]:
    """Guards uniqueness of a HER-id across health contacts."""
    return f"HERID#{her}", "HERID"


def timebook(timebook_id: str) -> tuple[str, str]:
    return f"TB#{timebook_id}", "TB"


def timebooks_of(hc_id: str) -> str:
    return f"HC#{hc_id}#TB"  # gsi1


def slot(ref: SlotRef) -> tuple[str, str]:
    """Every slot is its own partition: a surge on one day spreads over as many partitions as
    the day has slots, and one slot takes at most its capacity's worth of writes (docs/capacity.md)."""
    return f"SLOT#{ref.slot_id}", "SLOT"


def summary_partition(timebook_id: str, month: str) -> str:
    """The availability summaries of one timebook-month: the calendar is one Query of it."""
    return f"TB#{timebook_id}#AV#{month}"


def summary_sort(day: date | str, location_id: str = "") -> str:
    key = f"D#{day}"
    if location_id:
        key += f"#{location_id}"
    return key


def day_summary(timebook_id: str, day: date, location_id: str) -> tuple[str, str]:
    """One item per timebook, day and location: what its slots had free when last refreshed."""
    return summary_partition(timebook_id, f"{day:%Y-%m}"), summary_sort(day.isoformat(), location_id)


def appointment(appointment_id: str) -> tuple[str, str]:
    return f"AP#{appointment_id}", "AP"


def appointments_of_person(pid: str) -> str:
    return f"P#{pid}"  # gsi1, sorted by start


def appointments_of_timebook(timebook_id: str) -> str:
    return f"TB#{timebook_id}#AP"  # gsi2, sorted by start


def appointment_sort(start_iso: str, appointment_id: str) -> str:
    return f"{start_iso}#{appointment_id}"


def idempotency(owner: str, scope: str, key: str) -> tuple[str, str]:
    """A client's Idempotency-Key, per caller and per kind of request (holds, appointments)."""
    return f"IDEM#{owner}#{scope}#{key}", "IDEM"


def person(timebook_id: str, pid: str) -> tuple[str, str]:
    """One person in one timebook: their one live hold and the lanes of their active
    appointments (the per-person limit). Its own partition: no two people contend."""
    return f"PT#{timebook_id}#{pid}", "PT"


def event(event_id: str) -> tuple[str, str]:
    """A note that is not an appointment change (models.EventItem): its own partition, no index,
    written once and never updated or deleted (TTL removes it)."""
    return f"EV#{event_id}", "EV"


HOLD_SWEEP_SHARDS = 8


def holds_to_sweep(shard: int) -> str:
    """gsi2: slots that carry holds, by when the latest expires (the sweep tidies them)."""
    return f"SWEEP#{shard}"


def inbox(pid: str) -> str:
    return f"INBOX#{pid}"


def inbox_sort(created_iso: str, event_id: str) -> str:
    return f"MSG#{created_iso}#{event_id}"


# ---- waitlist, closures, audit (issue 13) -------------------------------------------------------


def waitlist_entry(entry_id: str) -> tuple[str, str]:
    return f"WL#{entry_id}", "WL"


def waitlist_of_person(pid: str) -> str:
    return f"WLP#{pid}"  # gsi1, sorted by when they joined


def waitlist_queue(timebook_id: str) -> str:
    return f"WLQ#{timebook_id}"  # gsi2 while the entry is live: first come, first offered


def waitlist_sort(created_iso: str, entry_id: str) -> str:
    return f"{created_iso}#{entry_id}"


def waitlist_guard(timebook_id: str, pid: str) -> tuple[str, str]:
    return f"WLG#{timebook_id}#{pid}", "WLG"


WAITLISTS = "WAITLISTS"  # gsi1: timebooks with a waitlist, for the every-minute sweep


def waitlists(timebook_id: str) -> tuple[str, str]:
    return f"WLTB#{timebook_id}", "WLTB"


def closure(timebook_id: str, closure_id: str) -> tuple[str, str]:
    return f"CLOSURE#{timebook_id}#{closure_id}", "CLOSURE"


UNFINISHED_CLOSURES = "CLOSURES#UNFINISHED"  # gsi2: closures the schedule must finish


def told(closure_key: str, entry_id: str) -> tuple[str, str]:
    """A closure told this waitlist entry (once)."""
    return f"TOLD#{closure_key}#{entry_id}", "TOLD"


def audit_log(timebook_id: str) -> str:
    return f"AUDIT#{timebook_id}"


def audit_sort(at_iso: str, record_id: str) -> str:
    return f"{at_iso}#{record_id}"
