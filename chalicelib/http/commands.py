"""Validated request models (http/schemas/) as the use cases' commands (booking/commands/).

The commands are imported on the first request that posts one, not when app.py is imported
(scripts/import_ratio.py); booking/commands/ loads each area on first use.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.booking import commands
    from chalicelib.domain.forms import Form
    from chalicelib.http import schemas


def _form(body: schemas.FormIn) -> Form:
    from chalicelib.domain.forms import Form, Question

    return Form(
        title=body.title,
        questions=tuple(
            Question(id=q.id, text=q.text, kind=q.kind, required=q.required, options=tuple(q.options))
            for q in body.questions
        ),
    )


def _resource(body: schemas.ResourceIn) -> commands.ResourceText:
    from chalicelib.booking.commands import ResourceText

    return ResourceText(name=body.name, description=body.description)


def _waiting_room(body: schemas.WaitingRoomIn | None) -> Any:
    from chalicelib.domain.queue import WaitingRoom

    return None if body is None else WaitingRoom(body.enabled, body.admit_per_minute)


def _waves(body: list[schemas.WaveIn]) -> tuple[Any, ...]:
    from chalicelib.domain.queue import Wave

    return tuple(Wave(w.opens_at, w.born_from, w.born_to, w.id or "") for w in body)


# The command each request model asks for. A command's fields are the model's own names, so
# one copy does for all; only the nested parts have types of their own.
_COMMANDS = {
    "HealthContactIn": "CreateHealthContact",
    "TimebookIn": "CreateTimebook",
    "TimebookPatchIn": "ChangeTimebook",
    "LocationIn": "AddLocation",
    "ScheduleIn": "AddSchedule",
    "SlotPatchIn": "ChangeSlot",
    "ClosureIn": "CloseSlots",
    "HoldIn": "TakeHold",
    "AppointmentIn": "BookAppointment",
    "WaitlistIn": "JoinWaitlist",
}
_NESTED: dict[str, Any] = {"form": _form, "resource": _resource, "waiting_room": _waiting_room, "waves": _waves}


def _frozen(value: Any) -> Any:
    """Lists become tuples (commands are frozen); mappings are copied."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def to_command(body: Any) -> Any:
    """The command a validated request model asks for (typed per model at the call site)."""
    from chalicelib.booking import commands

    command = getattr(commands, _COMMANDS[type(body).__name__])
    return command(
        **{
            f.name: _NESTED[f.name](getattr(body, f.name)) if f.name in _NESTED else _frozen(getattr(body, f.name))
            for f in dataclasses.fields(command)
        }
    )
