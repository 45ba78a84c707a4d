"""Erasing personal data when its time is up (issue 23): `retention_days` of the timebook after
an appointment's end (domain/retention.py), the same for waitlist entries, the person's lanes,
slot claims and the audit log; Idempotency-Keys and event notes when they expire.

Runs on a schedule (app.py), a bounded number of steps per run, going on where the last run
stopped (storage/retention.py keeps the position). Idempotent: erased records are not listed
again, and each erasure is conditioned on what it read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib import clock
from chalicelib.storage import repository
from chalicelib.storage import retention as store

logger = logging.getLogger("timebok.booking.retention")

STEP = 500  # items read per step of the scan
STEPS_PER_RUN = 20  # a run reads at most STEP * STEPS_PER_RUN items (10 000)


@dataclass
class ErasureRun:
    read_steps: int = 0
    erased: int = 0
    kept: int = 0  # still inside retention, or changed while being erased
    cycle_done: bool = False  # the scan reached the table's end (the next run starts over)


def erase_expired(steps: int = STEPS_PER_RUN, step: int = STEP) -> ErasureRun:
    """Erase what is due among the next `steps * step` items of the table."""
    now = clock.now()
    run = ErasureRun()
    retention: dict[str, int | None] = {}
    position = store.retention_position()
    while run.read_steps < steps:
        records, position = store.personal_records(position, step)
        run.read_steps += 1
        for record in records:
            if record.timebook_id and record.timebook_id not in retention:
                timebook = repository.get_timebook(record.timebook_id)
                retention[record.timebook_id] = timebook.retention_days if timebook is not None else None
            if record.due(retention.get(record.timebook_id), now) and store.erase_record(record):
                run.erased += 1
            else:
                run.kept += 1
        store.save_retention_position(position)  # after the step's erasures: a crash repeats, never skips
        if position is None:
            run.cycle_done = True
            break
    logger.info(
        "retention: %d erased, %d kept, %d steps, cycle %s",
        run.erased,
        run.kept,
        run.read_steps,
        "done" if run.cycle_done else "goes on",
    )
    return run
