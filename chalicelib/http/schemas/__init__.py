"""Request and response models of API.md (pydantic v2); the OpenAPI document is built from them.

One module per area of the API, each imported on first use (chalicelib/lazy.py, `lazy_exports`):
`schemas.HoldIn` and `from chalicelib.http.schemas import HoldIn` build only the citizen's models
and the shared ones, so a booking's cold start does not build the staff set-up's classes
(scripts/import_ratio.py). `AREAS` says where each name lives; tests/http/test_schemas.py checks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import lazy_exports

AREAS: dict[str, tuple[str, ...]] = {
    "common": (
        *("Text", "LongText", "Identifier", "IsoDate", "unencodable", "In", "Out"),
        *("TimebookType", "Process", "QuestionKind", "AppointmentStatus", "InboxKind", "WaitlistStatus"),
        *("HealthContactRef", "TimebookRef", "PersonRef", "LocationOut"),
    ),
    "errors": ("FieldErrorOut", "ErrorBodyOut", "ErrorOut"),
    "public": (
        *("HealthContactOut", "TimebookSummaryOut", "ResourceOut", "QuestionOut", "FormOut", "TimebookOut"),
        *("CalendarDayOut", "CalendarOut", "SlotOut", "SlotsOut"),
        *("WaitingRoomOut", "WaveOut"),
    ),
    "citizen": (
        *("HoldIn", "AppointmentIn", "RescheduleIn", "HoldOut", "AnswerOut", "AppointmentOut", "InboxMessageOut"),
        *("PersonIdRef", "CitizenAppointmentOut"),
    ),
    "waitlist": ("WaitlistIn", "WaitlistOfferOut", "WaitlistEntryOut"),
    "admin": (
        *("HealthContactIn", "QuestionIn", "FormIn", "ResourceIn", "TimebookIn", "LocationIn", "ScheduleIn"),
        *("SlotPatchIn", "ClosureIn", "ReasonIn", "MAX_SLOTS_PER_SCHEDULE", "MAX_CLOSURE_DAYS"),
        *("ScheduleOut", "OverviewAppointmentOut", "OverviewSlotOut", "SlotAdminOut", "ClosureOut", "AuditRecordOut"),
        *("BulkConfirmIn", "BulkErrorOut", "BulkResultOut", "BulkConfirmOut", "DayListItemOut", "WaitingOut"),
        "ClosurePreviewOut",
        "FiguresOut",
        *("WaitingRoomIn", "WaveIn"),
        *("TimebookSettingsIn", "TimebookPatchIn", "WavePeopleIn", "WavePeopleOut", "MAX_WAVE_PEOPLE"),
    ),
    "queue": ("QueueOut",),
    "dev": ("RepresentedIn", "DevTokenIn", "TokenOut"),
    "mydata": ("DataSubjectOut", "MyAuditOut", "MyDataOut", "MyListingOut"),
}
__all__ = sorted(name for names in AREAS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, AREAS)


if TYPE_CHECKING:  # what the lazy look-up finds, spelled out for type checkers
    from chalicelib.http.schemas.admin import *  # noqa: F403
    from chalicelib.http.schemas.citizen import *  # noqa: F403
    from chalicelib.http.schemas.common import *  # noqa: F403
    from chalicelib.http.schemas.dev import *  # noqa: F403
    from chalicelib.http.schemas.errors import *  # noqa: F403
    from chalicelib.http.schemas.mydata import *  # noqa: F403
    from chalicelib.http.schemas.public import *  # noqa: F403
    from chalicelib.http.schemas.queue import *  # noqa: F403
    from chalicelib.http.schemas.waitlist import *  # noqa: F403
