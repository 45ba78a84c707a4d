"""The key schema of the one Timebok table: every pk/sk/gsi string is made here.

See docs/access-patterns.md for which API call reads and writes which keys.
"""

from __future__ import annotations

import hashlib
from datetime import date

from chalicelib.domain.slots import SlotRef

HEALTH_CONTACTS = "HCS"  # gsi1: all health contacts, by name


def by_name(name: str, entity_id: str) -> str:
    """gsi1 sort of health contacts and timebooks: by name, the id keeps equal names apart."""
    return f"{name}#{entity_id}"


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
    return slot_of_id(ref.slot_id)


def slot_of_id(slot_id: str) -> tuple[str, str]:
    return f"SLOT#{slot_id}", "SLOT"


def summary_partition(timebook_id: str, month: str) -> str:
    """The availability summaries of one timebook-month: the calendar is one Query of it."""
    return f"TB#{timebook_id}#AV#{month}"


def summary_sort(day: date | str, location_id: str = "") -> str:
    key = f"D#{day}"
    if location_id:
        key += f"#{location_id}"
    return key


def summary_day_prefix(day: date) -> str:
    """The sort keys of one day's summaries (one per location) begin with this."""
    return summary_sort(day.isoformat()) + "#"


def day_summary(timebook_id: str, day: date, location_id: str) -> tuple[str, str]:
    """One item per timebook, day and location: what its slots had free when last refreshed."""
    return summary_partition(timebook_id, f"{day:%Y-%m}"), summary_sort(day.isoformat(), location_id)


def appointment(appointment_id: str) -> tuple[str, str]:
    return f"AP#{appointment_id}", "AP"


def appointments_of_person(pid: str) -> str:
    return f"P#{pid}"  # gsi1, sorted by start


# gsi2 of appointments: a timebook's appointments spread over this many partitions, so that a
# surge on one timebook-day writes each at most 1/8 of its bookings (docs/capacity.md). A staff
# list reads all of them, merged by start.
APPOINTMENT_SHARDS = 8


def appointment_shard(appointment_id: str) -> int:
    """Stable for an appointment's life: a reschedule moves its sort key, never its partition."""
    return int(hashlib.sha256(appointment_id.encode()).hexdigest()[:8], 16) % APPOINTMENT_SHARDS


def appointments_of_timebook(timebook_id: str, shard: int) -> str:
    return f"TB#{timebook_id}#AP#{shard}"  # gsi2, sorted by start


def appointments_of_timebook_all(timebook_id: str) -> list[str]:
    return [appointments_of_timebook(timebook_id, shard) for shard in range(APPOINTMENT_SHARDS)]


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


def sweep_sort(epoch: int) -> str:
    """gsi2 sort of the hold sweep: epoch seconds, zero-padded so text order is time order."""
    return f"{epoch:012d}"


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


def unfinished_closure_sort(timebook_id: str, closure_id: str) -> str:
    return f"{timebook_id}#{closure_id}"


def closure_of_unfinished(sort: str) -> tuple[str, str]:
    """The timebook and closure an `unfinished_closure_sort` names."""
    timebook_id, closure_id = sort.split("#", 1)
    return timebook_id, closure_id


def told(timebook_id: str, closure_id: str, entry_id: str) -> tuple[str, str]:
    """A closure told this waitlist entry (once)."""
    return f"TOLD#{timebook_id}#{closure_id}#{entry_id}", "TOLD"


def audit_log(timebook_id: str) -> str:
    return f"AUDIT#{timebook_id}"


def audit_sort(at_iso: str, record_id: str) -> str:
    return f"{at_iso}#{record_id}"


# ---- word by SMS (issue 23, docs/sms.md) ---------------------------------------------------------


def sms(event_id: str) -> tuple[str, str]:
    """The one SMS an inbox message may cause: its mark (sending, sent, skipped, deferred)."""
    return f"SMS#{event_id}", "SMS"


SMS_DUE = "SMS#DUE"  # gsi2: SMS deferred past the quiet hours, by when they are due


def sms_due_sort(due_iso: str, event_id: str) -> str:
    return f"{due_iso}#{event_id}"


def sms_quota(pid: str, day: str) -> tuple[str, str]:
    """How many SMS one person got on one Oslo day (a cap against a loop of book and cancel)."""
    return f"SMSQ#{pid}#{day}", "SMSQ"


# ---- data lifetime (issue 23) ----------------------------------------------------------------


def retention_position() -> tuple[str, str]:
    """Where the erasure's paged scan of the table goes on from (storage/retention.py)."""
    return "RETENTION", "SCAN"


# ---- the waiting room (issue 20, docs/capacity.md «The waiting room») -------------------------------


def queue_person(timebook_id: str, person: str) -> tuple[str, str]:
    """A person's one ticket in a timebook's room (`person`: the keyed hash, never the number)."""
    return f"QP#{timebook_id}#{person}", "QP"


# A room's arrivals spread over this many gsi1 partitions (by the person's hash): at 1,000
# arrivals/s each takes 125 writes/s, an eighth of a partition's 1,000 WCU/s.
QUEUE_SHARDS = 8


def queue_shard(person: str) -> int:
    return int(person[:8], 16) % QUEUE_SHARDS


def queue_arrivals(timebook_id: str, shard: int) -> str:
    return f"QA#{timebook_id}#{shard}"  # gsi1, sorted by arrival number


def arrival_sort(arrival: int) -> str:
    return f"{arrival:020d}"


def queue_room(timebook_id: str) -> tuple[str, str]:
    return f"QROOM#{timebook_id}", "QROOM"


QUEUE_ROOMS = "QROOMS"  # gsi1: the rooms the admission schedule steps


def wave_person(timebook_id: str, person: str) -> str:
    """A person's entries on a timebook's priority lists, one item per wave (`person`: the keyed
    hash): the hold's wave check is one Query of this partition."""
    return f"WP#{timebook_id}#{person}"


WAVE_ENTRY = "W#"


def wave_entry(wave_id: str) -> str:
    """One wave's entry, by the wave's stable id (lists stored before ids were keyed `W#000` on the
    wave's index, which is that wave's legacy id)."""
    return f"{WAVE_ENTRY}{wave_id}"


def wave_lists(timebook_id: str) -> str:
    """gsi1: every entry of a timebook's priority lists, walked page by page when a settings change
    moves their lifetime (booking/queue.py restamp_lists)."""
    return f"WPL#{timebook_id}"


def wave_list_sort(person: str, wave_id: str) -> str:
    return f"{person}#{wave_id}"


def wave_list_entry_of(sort: str) -> tuple[str, str]:
    """The person and wave a `wave_list_sort` names."""
    person, wave_id = sort.split("#", 1)
    return person, wave_id


def lists_restamp(timebook_id: str) -> tuple[str, str]:
    """A timebook's lists to stamp again with the lifetime its waves give now, and how far it got."""
    return f"WPR#{timebook_id}", "WPR"


UNFINISHED_RESTAMPS = "WPR#UNFINISHED"  # gsi1: the walks the every-minute schedule finishes


# Load shed (429s) counted in this many items, each added to at most every few seconds per process.
SHED_SHARDS = 8


def shed_counter(shard: int) -> tuple[str, str]:
    return f"SHED#{shard}", "SHED"
