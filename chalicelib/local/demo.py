"""The municipal guide's example, as demo data: Helsenorge Kommune's Koronatest and friends.

Made through the same use cases staff call, so the demo is also a walk through set-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.booking import discovery, setup
from chalicelib.booking.commands import AddSchedule
from chalicelib.domain.people import Principal
from chalicelib.http.commands import to_command
from chalicelib.http.schemas import HealthContactIn, LocationIn, ScheduleIn, TimebookIn

SMITTEVERN_HER_ID = "8100001"
LEGEVAKT_HER_ID = "8100002"
# A synthetic staff identity (valid check digits, not a real person).
DEMO_STAFF_PID = "18128838410"
DEMO_CITIZEN_PID = "24085038849"
# A parent who books on behalf of two children (synthetic numbers with valid check digits).
DEMO_PARENT_PID = "12038512356"
DEMO_CHILDREN = (("07061551268", "Ola Nordmann"), ("21091853490", "Kari Nordmann"))

KORONATEST_QUESTIONS = [
    {"id": "symptomer", "text": "Har du de siste dagene fått symptomer som kan skyldes covid-19?"},
    {"id": "naerkontakt", "text": "Har du vært nærkontakt med noen som kan ha covid-19?"},
    {"id": "utlandet", "text": "Har du vært i utlandet i løpet av de siste 10 dagene?"},
    {"id": "helsepersonell", "text": "Jobber du som helsepersonell eller i en helseinstitusjon?"},
]


@dataclass(frozen=True)
class Demo:
    smittevern_id: str
    legevakt_id: str
    koronatest_id: str
    teststasjon_id: str
    koronavaksine_id: str
    konsultasjon_id: str


def demo_staff() -> Principal:
    return Principal(
        sub=DEMO_STAFF_PID, role="staff", name="Sara Saksbehandler", orgs=(SMITTEVERN_HER_ID, LEGEVAKT_HER_ID)
    )


def demo_people() -> list[dict[str, Any]]:
    """The portal's local sign-in choices: the claims each one's POST /dev/token is sent."""
    return [
        {"label": "Elise, innbygger", "claims": {"sub": DEMO_CITIZEN_PID, "role": "citizen", "name": "Elise"}},
        {
            "label": "Per, forelder med to barn",
            "claims": {
                "sub": DEMO_PARENT_PID,
                "role": "citizen",
                "name": "Per Nordmann",
                "represents": [{"pid": pid, "name": name} for pid, name in DEMO_CHILDREN],
            },
        },
        {
            "label": "Sara, saksbehandler i kommunen",
            "claims": {
                "sub": DEMO_STAFF_PID,
                "role": "staff",
                "name": "Sara Saksbehandler",
                "orgs": [SMITTEVERN_HER_ID, LEGEVAKT_HER_ID],
            },
        },
    ]


def _schedule(location_id: str, first: date, weeks: int, capacity: int, end_hour: int = 13) -> AddSchedule:
    return to_command(
        ScheduleIn.model_validate(
            {
                "location_id": location_id,
                "from": first.isoformat(),
                "to": (first + timedelta(weeks=weeks)).isoformat(),
                "weekdays": [1, 2, 3, 4, 5],
                "start_time": "08:00",
                "end_time": f"{end_hour:02d}:00",
                "slot_minutes": 15,
                "capacity": capacity,
            }
        )
    )


def existing() -> Demo | None:
    """The demo, if a previous run already made it (make run is restartable)."""
    contacts = {hc.her_id: hc for hc in discovery.health_contacts()}
    if SMITTEVERN_HER_ID not in contacts or LEGEVAKT_HER_ID not in contacts:
        return None
    smittevern, legevakt = contacts[SMITTEVERN_HER_ID], contacts[LEGEVAKT_HER_ID]
    books = {tb.type: tb for tb in discovery.timebooks(smittevern.id)}
    legevakt_books = {tb.type: tb for tb in discovery.timebooks(legevakt.id)}
    if "koronatest" not in books or "koronavaksine" not in books or "konsultasjon" not in legevakt_books:
        return None
    koronatest = discovery.timebook(books["koronatest"].id)
    return Demo(
        smittevern.id,
        legevakt.id,
        koronatest.id,
        koronatest.locations[0].id,
        books["koronavaksine"].id,
        legevakt_books["konsultasjon"].id,
    )


def seed(weeks: int = 8) -> Demo:
    """Make the guide's demo data once; slots from today on, weekdays 08:00-13:00."""
    found = existing()
    if found:
        return found
    staff = demo_staff()
    today = clock.local(clock.now()).date()
    smittevern = setup.create_health_contact(
        staff,
        to_command(
            HealthContactIn(
                organisation="Helsenorge Kommune",
                service="Smittevern",
                her_id=SMITTEVERN_HER_ID,
                phone="+47 22 00 00 00",
            )
        ),
    )
    legevakt = setup.create_health_contact(
        staff,
        to_command(HealthContactIn(organisation="Helsenorge Kommune", service="Legevakt", her_id=LEGEVAKT_HER_ID)),
    )
    koronatest = setup.create_timebook(
        staff,
        to_command(
            TimebookIn.model_validate(
                {
                    "health_contact_id": smittevern.id,
                    "name": "Koronatest",
                    "type": "koronatest",
                    "description": "Timebestilling koronatest. På grunn av stor pågang prioriteres testing av "
                    "personer med mistanke om covid-19-sykdom.",
                    "resource": {
                        "name": "Kovidtest (hs), Smittevern (Feberpoliklinikk), Helsenorge Kommune",
                        "description": "Dette er en tjeneste ved kommunen sin helsestasjon hvor du kan bestille "
                        "Covid-19 test. Den er ved tjeneste smittevern og har type Koronatest.",
                    },
                    "requires_confirmation": True,
                    "hold_minutes": 10,
                    "cancel_deadline_hours": 2,
                    "form": {"title": "Timebestilling koronatest", "questions": KORONATEST_QUESTIONS},
                }
            )
        ),
    )
    station = setup.add_location(
        staff,
        koronatest.id,
        to_command(LocationIn(name="Korona teststasjon A", address="Gaten 1, 0271 Oslo", directions="Følg skilting")),
    )
    setup.add_schedule(staff, koronatest.id, _schedule(station.id, today, weeks, capacity=2))

    vaksine = setup.create_timebook(
        staff,
        to_command(
            TimebookIn.model_validate(
                {
                    "health_contact_id": smittevern.id,
                    "name": "Koronavaksine",
                    "type": "koronavaksine",
                    "description": "Vaksinasjon mot covid-19.",
                    "resource": {"name": "Koronavaksinasjon, Smittevern, Helsenorge Kommune"},
                    "requires_confirmation": False,
                    "cancel_deadline_hours": 24,
                }
            )
        ),
    )
    hall = setup.add_location(
        staff,
        vaksine.id,
        to_command(LocationIn(name="Vaksinasjonssenteret", address="Gaten 3, 0271 Oslo", directions="Inngang B")),
    )
    setup.add_schedule(staff, vaksine.id, _schedule(hall.id, today, 2, capacity=4, end_hour=10))

    konsultasjon = setup.create_timebook(
        staff,
        to_command(
            TimebookIn.model_validate(
                {
                    "health_contact_id": legevakt.id,
                    "name": "Konsultasjon",
                    "type": "konsultasjon",
                    "description": "Konsultasjon ved legevakten.",
                    "resource": {"name": "Legevakt, Helsenorge Kommune"},
                    "requires_confirmation": True,
                }
            )
        ),
    )
    room = setup.add_location(
        staff,
        konsultasjon.id,
        to_command(LocationIn(name="Legevakten", address="Gaten 5, 0271 Oslo", directions="2. etasje")),
    )
    setup.add_schedule(staff, konsultasjon.id, _schedule(room.id, today, 2, capacity=1, end_hour=10))
    return Demo(smittevern.id, legevakt.id, koronatest.id, station.id, vaksine.id, konsultasjon.id)
