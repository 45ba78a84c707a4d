"""The waiting room: a ticket and where it stands."""

from __future__ import annotations

from typing import Literal

from chalicelib.http.schemas.common import Out


class QueueOut(Out):
    ticket: str  # signed; send it as X-Queue-Ticket on POST /holds once admitted
    arrival: int
    position: int  # people ahead plus one; 0 once admitted
    state: Literal["waiting", "admitted"]
    estimated_wait_seconds: int
    poll_after_seconds: int
    # Every place of the timebook looked taken at the room's last step (a place may still come
    # free: a lapsed hold, a cancel); the line stays, and the waitlist is open.
    sold_out: bool = False
