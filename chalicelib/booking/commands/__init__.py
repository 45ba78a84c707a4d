"""What the use cases are asked to do: small frozen dataclasses, one per request that carries data.

The HTTP layer validates a request against its model (chalicelib/http/schemas/) and turns it
into one of these (chalicelib/http/commands.py); a use case never sees the request model. Field
names are the request's own (and the glossary's), so an Idempotency-Key's request hash stays
what it was (`idempotency.request_hash_of`).

One module per area, each imported on first use (chalicelib/lazy.py, `lazy_exports`): a
booking's cold start builds only the citizen's commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import lazy_exports

AREAS: dict[str, tuple[str, ...]] = {
    "staff": (
        *("CreateHealthContact", "ResourceText", "CreateTimebook", "AddLocation", "AddSchedule"),
        *("ChangeSlot", "CloseSlots", "ChangeTimebook"),
    ),
    "citizen": ("TakeHold", "BookAppointment"),
    "waitlist": ("JoinWaitlist",),
}
__all__ = sorted(name for names in AREAS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, AREAS)


if TYPE_CHECKING:  # what the lazy look-up finds, spelled out for type checkers
    from chalicelib.booking.commands.citizen import *  # noqa: F403
    from chalicelib.booking.commands.staff import *  # noqa: F403
    from chalicelib.booking.commands.waitlist import *  # noqa: F403
