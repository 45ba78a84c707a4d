"""Timebok: the table of contents. Every route, event and schedule, each delegating to chalicelib/."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice import AuthResponse, Cron, Rate, Response
from chalice.app import AuthRequest

from chalicelib import logs, settings
from chalicelib.http import auth, cors, parameters, presenters
from chalicelib.http.application import TimebokApp
from chalicelib.http.commands import to_command
from chalicelib.http.handlers import principal, reshape_chalice_errors
from chalicelib.http.language import ACCEPT_LANGUAGE, language_of
from chalicelib.http.parameters import DAY, IDEMPOTENCY_KEY, LOCATION, MONTH, OPTIONAL_DAY, PAGE, STATUS, TIMEBOOK
from chalicelib.http.requests import idempotency_key, items, page_of, paged, query_param, queue_ticket, respond
from chalicelib.http.routes import Items, Routes
from chalicelib.lazy import lazy_module

# The use cases and the request models are imported on first use (chalicelib/lazy.py), not when
# Lambda imports this file: a cold start pays only for what its first request needs.
if TYPE_CHECKING:
    from chalicelib.booking import (
        appointments,
        audit,
        closures,
        discovery,
        figures,
        holds,
        housekeeping,
        lifecycle,
        mydata,
        queue,
        setup,
        slot_admin,
        staff,
        waitlist,
    )
    from chalicelib.http import schemas, uploads
else:
    appointments = lazy_module("chalicelib.booking.appointments")
    audit = lazy_module("chalicelib.booking.audit")
    closures = lazy_module("chalicelib.booking.closures")
    discovery = lazy_module("chalicelib.booking.discovery")
    figures = lazy_module("chalicelib.booking.figures")
    holds = lazy_module("chalicelib.booking.holds")
    housekeeping = lazy_module("chalicelib.booking.housekeeping")
    lifecycle = lazy_module("chalicelib.booking.lifecycle")
    mydata = lazy_module("chalicelib.booking.mydata")
    queue = lazy_module("chalicelib.booking.queue")
    setup = lazy_module("chalicelib.booking.setup")
    slot_admin = lazy_module("chalicelib.booking.slot_admin")
    staff = lazy_module("chalicelib.booking.staff")
    waitlist = lazy_module("chalicelib.booking.waitlist")
    schemas = lazy_module("chalicelib.http.schemas")
    uploads = lazy_module("chalicelib.http.uploads")

logs.configure()
app = TimebokApp(app_name="timebok", configure_logs=False)  # our JSON logs, not Chalice's plain ones
app.register_middleware(logs.middleware)  # the request id on every line; an access line per request
app.register_middleware(reshape_chalice_errors, "http")


@app.authorizer()
def token(auth_request: AuthRequest) -> AuthResponse:
    try:
        principal_id, context = auth.authorize(auth_request.token)
    except auth.InvalidToken:
        raise Exception("Unauthorized") from None  # API Gateway's way to answer 401
    return AuthResponse(routes=["*"], principal_id=principal_id, context=context)


# Each route is declared once (chalicelib/http/routes.py): Chalice serves it, GET /openapi.json documents it.
api = Routes(app, authorizer=token)
route = api.route


def request() -> Any:
    return app.current_request


# ---- public: discovery and availability (steps 1-4) --------------------------------------------


@route("GET", "/health-contacts", "public", ok=Items("HealthContactOut"))
def list_health_contacts() -> Response:
    """Health contacts that offer booking (step 1)"""
    return respond(items([presenters.health_contact(h) for h in discovery.health_contacts()]), cache_seconds=60)


@route("GET", "/health-contacts/{hc_id}/timebooks", "public", ok=Items("TimebookSummaryOut"), errors=(404,))
def list_timebooks(hc_id: str) -> Response:
    """The timebooks of a health contact (step 2)"""
    return respond(items([presenters.timebook_summary(t) for t in discovery.timebooks(hc_id)]), cache_seconds=60)


@route("GET", "/timebooks/{timebook_id}", "public", ok="TimebookOut", errors=(404,))
def get_timebook(timebook_id: str) -> Response:
    """A timebook: resource, form and locations"""
    return respond(presenters.timebook(discovery.timebook(timebook_id)), cache_seconds=60)


@route(
    "GET", "/timebooks/{timebook_id}/calendar", "public", ok="CalendarOut", params=(MONTH, LOCATION), errors=(400, 404)
)
def month_calendar(timebook_id: str) -> Response:
    """Free places per day of a month (step 3)"""
    month = discovery.parse_month(query_param(request(), MONTH))
    days = discovery.month_calendar(timebook_id, month, query_param(request(), LOCATION))
    body = schemas.CalendarOut(month=month, days=[schemas.CalendarDayOut(date=d, free=f) for d, f in days])
    return respond(body, cache_seconds=5)


@route("GET", "/timebooks/{timebook_id}/slots", "public", ok="SlotsOut", params=(DAY, LOCATION), errors=(400, 404))
def free_slots(timebook_id: str) -> Response:
    """Bookable slots of a day, by start (step 4)"""
    day = discovery.parse_date(query_param(request(), DAY))
    found = discovery.free_slots(timebook_id, day, query_param(request(), LOCATION))
    return respond(schemas.SlotsOut(date=day, items=[presenters.slot(a) for a in found]), cache_seconds=5)


@route("GET", "/fhir/$bulk-publish", "public", ok="redirect", status=302)
def bulk_publish_manifest() -> Response:
    """The SMART Scheduling Links manifest: a redirect to its published static copy

    The manifest names NDJSON files of FHIR R4 Location, Schedule and Slot (docs/standards.md).
    """
    from chalicelib.booking.feed import MANIFEST, MAX_AGE_SECONDS

    location = f"{(settings.get().feed_base_url or '').rstrip('/')}/{MANIFEST}"
    return Response(
        body="", status_code=302, headers={"Location": location, "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}"}
    )


@route("GET", "/openapi.json", "public", ok="openapi")
def openapi_document() -> Response:
    """This OpenAPI document"""
    from chalicelib.http import openapi

    return respond(openapi.document(api), cache_seconds=300)


# ---- citizen: holds and appointments (steps 4-6) ---------------------------------------------------


@route(
    "POST",
    "/holds",
    "citizen",
    ok="HoldOut",
    status=201,
    also={200: "The hold of an earlier request with the same Idempotency-Key."},
    params=(IDEMPOTENCY_KEY, parameters.QUEUE_TICKET),
    errors=(403, 404, 409),
)
def create_hold(body: schemas.HoldIn) -> Response:
    """Hold a slot, or the first available time, for a while

    Give either `slot_id`, or `timebook_id` (with `location_id` and `date` optionally) for the
    first available time from `date`, else from now. 409 `slot_unavailable` when nothing is free.
    403 `queue_required` without an admitted X-Queue-Ticket while the waiting room is on;
    403 `not_open_yet` (with `opens_at`) before the wave of the person it is for.
    """
    key, ticket = idempotency_key(request()), queue_ticket(request())
    hold, created = holds.hold(principal(request()), to_command(body), key, ticket)
    return respond(presenters.hold(hold), status=201 if created else 200)


@route(
    "POST",
    "/timebooks/{timebook_id}/queue",
    "citizen",
    ok="QueueOut",
    status=201,
    also={200: "The caller's ticket of an earlier request: one per person and timebook."},
    params=(LOCATION,),
    errors=(404, 409),
)
def join_queue(timebook_id: str) -> Response:
    """A place in the timebook's waiting room: a signed ticket with its arrival number

    Admitted in arrival order; poll GET /queue/{ticket}. 409 `no_waiting_room` when the room is off.
    With `location`, `sold_out` is that location's (the ticket is for the timebook all the same).
    """
    place, created = queue.join(principal(request()), timebook_id, query_param(request(), LOCATION))
    return respond(presenters.queue_place(place), status=201 if created else 200)


@route("GET", "/queue/{ticket}", "public", ok="QueueOut", params=(LOCATION,), errors=(404,))
def queue_position(ticket: str) -> Response:
    """Where a ticket stands: cacheable for `poll_after_seconds`; reads no table

    With `location`, `sold_out` says whether that location has nothing free (for a citizen who can
    go there only); without, whether the whole timebook has nothing free.
    """
    answer = presenters.queue_place(queue.poll(ticket, query_param(request(), LOCATION)))
    return respond(answer, cache_seconds=answer.poll_after_seconds)


@route("DELETE", "/holds/{hold_id}", "citizen", ok="empty", status=204, errors=(404,))
def delete_hold(hold_id: str) -> Response:
    """Give a hold back"""
    holds.release_hold(principal(request()), hold_id)
    return Response(body="", status_code=204)


@route(
    "POST",
    "/appointments",
    "citizen",
    ok="CitizenAppointmentOut",
    status=201,
    also={200: "The appointment of an earlier request with the same Idempotency-Key."},
    params=(IDEMPOTENCY_KEY, ACCEPT_LANGUAGE),
    errors=(404, 409, 410),
)
def create_appointment(body: schemas.AppointmentIn) -> Response:
    """Book: from a hold or a slot (step 5)

    Give either `hold_id` or `slot_id`; `answers` maps the timebook form's question ids to answers.
    """
    key = idempotency_key(request())
    appointment, created = appointments.book(principal(request()), to_command(body), key, language_of(request()))
    return respond(presenters.citizen_appointment(appointment), status=201 if created else 200)


@route("GET", "/appointments", "citizen", ok=Items("CitizenAppointmentOut"), params=PAGE, errors=(400,))
def list_appointments() -> Response:
    """The caller's appointments and those of people they represent"""
    found, after = appointments.mine_page(principal(request()), page_of(request()))
    return respond(paged([presenters.citizen_appointment(a) for a in found], after))


@route("GET", "/appointments/{appointment_id}", "citizen", ok="CitizenAppointmentOut", errors=(404,))
def get_appointment(appointment_id: str) -> Response:
    """An appointment"""
    return respond(
        presenters.citizen_appointment(appointments.appointment_of_mine(principal(request()), appointment_id))
    )


@route("GET", "/appointments/{appointment_id}/ics", "citizen", ok="ics", errors=(404,))
def appointment_calendar(appointment_id: str) -> Response:
    """An appointment as iCalendar"""
    return Response(
        body=appointments.calendar_of_mine(principal(request()), appointment_id),
        status_code=200,
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{appointment_id}.ics"',
        },
    )


@route("GET", "/appointments/{appointment_id}/fhir", "citizen", ok="fhir", errors=(404,))
def appointment_fhir(appointment_id: str) -> Response:
    """An appointment as an HL7 FHIR R4 Appointment (as sent to Helsenorge)"""
    resource = appointments.fhir_of_mine(principal(request()), appointment_id)
    return Response(
        body=json.dumps(resource, ensure_ascii=False),
        status_code=200,
        headers={"Content-Type": "application/fhir+json", "Cache-Control": "no-store"},
    )


@route("POST", "/appointments/{appointment_id}/cancel", "citizen", ok="CitizenAppointmentOut", errors=(404, 409))
def cancel_appointment(appointment_id: str) -> Response:
    """Cancel an appointment

    409 `cancel_deadline_passed` after the timebook's deadline, `wrong_state` if not active.
    """
    return respond(presenters.citizen_appointment(lifecycle.cancel(principal(request()), appointment_id)))


@route("POST", "/appointments/{appointment_id}/reschedule", "citizen", ok="CitizenAppointmentOut", errors=(404, 409))
def reschedule_appointment(appointment_id: str, body: schemas.RescheduleIn) -> Response:
    """Move an appointment to another slot; the old place is freed in the same step"""
    moved = lifecycle.reschedule(principal(request()), appointment_id, body.slot_id)
    return respond(presenters.citizen_appointment(moved))


@route("POST", "/waitlist", "citizen", ok="WaitlistEntryOut", status=201, params=(ACCEPT_LANGUAGE,), errors=(404, 409))
def join_waitlist(body: schemas.WaitlistIn) -> Response:
    """Wait for a place in a timebook (at a location, in a time window)

    One live entry per person and timebook (409 `already_waiting`). A freed place in a matching
    slot is offered first come, first offered: a hold for `waitlist_offer_minutes`, booked with
    POST /appointments {hold_id}.
    """
    entry = waitlist.join(principal(request()), to_command(body), language_of(request()))
    return respond(presenters.waitlist_entry(entry), status=201)


@route("GET", "/waitlist", "citizen", ok=Items("WaitlistEntryOut"), params=PAGE, errors=(400,))
def list_waitlist() -> Response:
    """The caller's waitlist entries and those of people they represent, with open offers"""
    found, after = waitlist.mine(principal(request()), page_of(request()))
    return respond(paged([presenters.waitlist_entry(e) for e in found], after))


@route("DELETE", "/waitlist/{entry_id}", "citizen", ok="empty", status=204, errors=(404, 409))
def withdraw_from_waitlist(entry_id: str) -> Response:
    """Leave the waitlist, or decline an offer (its place goes to the next)"""
    waitlist.withdraw(principal(request()), entry_id)
    return Response(body="", status_code=204)


@route("GET", "/inbox", "citizen", ok=Items("InboxMessageOut"), params=PAGE, errors=(400,))
def inbox() -> Response:
    """Messages about the caller's appointments"""
    found, after = appointments.inbox_page(principal(request()), page_of(request()))
    return respond(paged([presenters.inbox_message(m) for m in found], after))


@route("GET", "/me/data", "citizen", ok="MyDataOut")
def my_data() -> Response:
    """Everything stored about the caller and those they represent (the citizen's copy, GDPR art. 15)"""
    return respond(presenters.my_data(mydata.my_data(principal(request()))))


# ---- staff: set-up ------------------------------------------------------------------------------


@route("POST", "/admin/health-contacts", "staff", ok="HealthContactOut", status=201, errors=(409,))
def create_health_contact(body: schemas.HealthContactIn) -> Response:
    """Register a health contact"""
    return respond(
        presenters.health_contact(setup.create_health_contact(principal(request()), to_command(body))), status=201
    )


@route("POST", "/admin/timebooks", "staff", ok="TimebookOut", status=201, errors=(404,))
def create_timebook(body: schemas.TimebookIn) -> Response:
    """Create a timebook"""
    return respond(presenters.timebook(setup.create_timebook(principal(request()), to_command(body))), status=201)


@route("PATCH", "/admin/timebooks/{timebook_id}", "staff", ok="TimebookOut", errors=(404, 409))
def change_timebook(timebook_id: str, body: schemas.TimebookPatchIn) -> Response:
    """Change a timebook's settings (waiting room, waves, limits, retention)

    Only the settings given change. `version` is the timebook's as read (its answer's `version`):
    409 `timebook_changed` when someone changed it since. Other API instances see the change within
    30 s; holds already taken stay good.
    """
    return respond(presenters.timebook(setup.change_timebook(principal(request()), timebook_id, to_command(body))))


@route(
    "POST",
    "/admin/timebooks/{timebook_id}/waves/{wave}/people",
    "staff",
    ok="WavePeopleOut",
    errors=(400, 404, 409),
    content_types=("application/json", "text/csv"),
    body_model="WavePeopleIn",
)
def add_wave_people(timebook_id: str, wave: str) -> Response:
    """Put people on a wave's priority list: they may hold from that wave's `opens_at`

    `wave` is the wave's `id`, or its index in the timebook's `waves` (from 0). The list stays with
    its wave when a PATCH reorders or moves the waves; a PATCH leaving it out is 409 `wave_has_list`.
    JSON `{"pids": [...]}`, or `text/csv` with one fødselsnummer or D-nummer a line (first column);
    at most 4,000 a request. A bad number is a 400 naming its entry (`pids.3`) or line (`line 4`).
    """
    ref = uploads.wave_ref(wave)
    number, wave_id, added = queue.add_wave_people(
        principal(request()), timebook_id, ref, uploads.wave_people(request())
    )
    return respond(schemas.WavePeopleOut(wave=number, wave_id=wave_id, added=added).model_dump(mode="json"))


@route("POST", "/admin/timebooks/{timebook_id}/locations", "staff", ok="LocationOut", status=201, errors=(404,))
def create_location(timebook_id: str, body: schemas.LocationIn) -> Response:
    """Add a location to a timebook"""
    location = setup.add_location(principal(request()), timebook_id, to_command(body))
    return respond(presenters.location(location), status=201)


@route("POST", "/admin/timebooks/{timebook_id}/schedules", "staff", ok="ScheduleOut", status=201, errors=(404,))
def create_schedule(timebook_id: str, body: schemas.ScheduleIn) -> Response:
    """Make slots for a window of days; posting the same window again makes none twice"""
    created = setup.add_schedule(principal(request()), timebook_id, to_command(body))
    return respond(schemas.ScheduleOut(created=created), status=201)


@route(
    "GET",
    "/admin/timebooks/{timebook_id}/overview",
    "staff",
    ok=Items("OverviewSlotOut"),
    params=(DAY, LOCATION),
    errors=(400, 404),
)
def resource_overview(timebook_id: str) -> Response:
    """Per slot of a day: capacity, booked, held and who"""
    day = discovery.parse_date(query_param(request(), DAY))
    rows = staff.overview(principal(request()), timebook_id, day, query_param(request(), LOCATION))
    return respond(items([presenters.overview_row(r) for r in rows]))


@route(
    "GET",
    "/admin/appointments",
    "staff",
    ok=Items("AppointmentOut"),
    params=(TIMEBOOK, STATUS, OPTIONAL_DAY, *PAGE),
    errors=(400, 404),
)
def staff_appointments() -> Response:
    """A timebook's appointments"""
    raw_day = query_param(request(), OPTIONAL_DAY)
    day = discovery.parse_date(raw_day) if raw_day else None
    found, after = staff.appointments(
        principal(request()),
        query_param(request(), TIMEBOOK),
        query_param(request(), STATUS),
        day,
        page_of(request()),
    )
    return respond(paged([presenters.appointment(a) for a in found], after))


@route("POST", "/admin/appointments/{appointment_id}/confirm", "staff", ok="AppointmentOut", errors=(404, 409))
def confirm_appointment(appointment_id: str) -> Response:
    """Confirm a requested appointment (status `booked`)"""
    return respond(presenters.appointment(lifecycle.confirm(principal(request()), appointment_id)))


@route("POST", "/admin/appointments/{appointment_id}/reject", "staff", ok="AppointmentOut", errors=(404, 409))
def reject_appointment(appointment_id: str, body: schemas.ReasonIn) -> Response:
    """Reject a requested appointment (status `rejected`)"""
    return respond(presenters.appointment(lifecycle.reject(principal(request()), appointment_id, body.reason)))


@route("POST", "/admin/appointments/{appointment_id}/cancel", "staff", ok="AppointmentOut", errors=(404, 409))
def staff_cancel_appointment(appointment_id: str, body: schemas.ReasonIn) -> Response:
    """Cancel an appointment (status `cancelled`)"""
    return respond(presenters.appointment(lifecycle.cancel_as_staff(principal(request()), appointment_id, body.reason)))


@route("POST", "/admin/appointments/confirm", "staff", ok="BulkConfirmOut", errors=(404,))
def confirm_appointments(body: schemas.BulkConfirmIn) -> Response:
    """Confirm several requests; one result per id (the new status, or why not)"""
    results = staff.confirm_many(principal(request()), list(body.ids))
    answer = schemas.BulkConfirmOut(results=[presenters.bulk_result(r) for r in results])
    return respond(answer.model_dump(mode="json", exclude_none=True))  # each result: a status or an error


@route("GET", "/admin/figures", "staff", ok="FiguresOut")
def staff_figures() -> Response:
    """This instance's business figures since it started: holds, bookings, lost races, 429s, conflicts

    Counted per process (local and per instance): under make run the whole API, in AWS one Lambda
    instance; the CloudWatch dashboard (namespace Timebok) adds up every instance."""
    found = figures.figures(principal(request()))
    answer = schemas.FiguresOut(scope="process", seconds=found.seconds, counters=found.counters, gauges=found.gauges)
    return respond(answer.model_dump(mode="json"))


@route("GET", "/admin/requests", "staff", ok=Items("AppointmentOut"))
def staff_requests() -> Response:
    """Requests waiting in every timebook of the caller's health contacts, oldest first"""
    return respond(items([presenters.appointment(a) for a in staff.requests(principal(request()))]))


@route("POST", "/admin/appointments/{appointment_id}/arrived", "staff", ok="AppointmentOut", errors=(404, 409))
def appointment_arrived(appointment_id: str) -> Response:
    """«Møtt»: the person came (from `booked`, on the appointment's day only)"""
    found = lifecycle.arrived(principal(request()), appointment_id)
    return respond(presenters.appointment(found))


@route("POST", "/admin/appointments/{appointment_id}/noshow", "staff", ok="AppointmentOut", errors=(404, 409))
def appointment_noshow(appointment_id: str) -> Response:
    """«Ikke møtt»: the person did not come (from `booked`, on the appointment's day only)"""
    found = lifecycle.noshow(principal(request()), appointment_id)
    return respond(presenters.appointment(found))


@route(
    "GET",
    "/admin/timebooks/{timebook_id}/daylist",
    "staff",
    ok=Items("DayListItemOut", csv=True),
    params=(DAY, LOCATION),
    errors=(400, 404),
)
def day_list(timebook_id: str) -> Response:
    """The station's day list: time, name, birth date, status; CSV with `Accept: text/csv`"""
    day = discovery.parse_date(query_param(request(), DAY))
    rows = staff.day_list(principal(request()), timebook_id, day, query_param(request(), LOCATION))
    if "text/csv" in (request().headers.get("accept") or ""):
        return Response(
            body=staff.day_list_csv(rows),
            status_code=200,
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="dagsliste-{day.isoformat()}.csv"',
                "Cache-Control": "no-store",
            },
        )
    return respond(items([presenters.day_list_row(r) for r in rows]))


# ---- staff: slot editing, closures, audit -----------------------------------------------------


@route("PATCH", "/admin/slots/{slot_id}", "staff", ok="SlotAdminOut", errors=(404, 409))
def change_slot(slot_id: str, body: schemas.SlotPatchIn) -> Response:
    """Change a slot's capacity, or close or reopen it

    409 `capacity_below_taken` when places that a lower capacity removes are taken.
    """
    return respond(presenters.admin_slot(slot_admin.change(principal(request()), slot_id, to_command(body))))


@route("POST", "/admin/timebooks/{timebook_id}/closures", "staff", ok="ClosureOut", errors=(404,))
def close_slots(timebook_id: str, body: schemas.ClosureIn) -> Response:
    """Close the slots starting in [from, to), cancel their appointments, tell the waitlist

    Posting the same closure again changes and sends nothing new. `complete: false`: the rest
    is finished in the background within a minute or two.
    """
    return respond(presenters.closure(closures.close(principal(request()), timebook_id, to_command(body))))


@route("POST", "/admin/timebooks/{timebook_id}/closures/preview", "staff", ok="ClosurePreviewOut", errors=(404,))
def preview_closure(timebook_id: str, body: schemas.ClosureIn) -> Response:
    """What posting this closure would do now: slots closed, appointments cancelled, waitlist
    entries and people told (reads only)"""
    return respond(presenters.closure_preview(closures.preview(principal(request()), timebook_id, to_command(body))))


@route("GET", "/admin/timebooks/{timebook_id}/waitlist", "staff", ok=Items("WaitingOut"), errors=(404,))
def staff_waitlist(timebook_id: str) -> Response:
    """Who waits in a timebook, in order, and the open offers (identity numbers masked)"""
    return respond(items([presenters.waiting_row(r) for r in staff.waiting(principal(request()), timebook_id)]))


@route("GET", "/admin/closures/{closure_id}", "staff", ok="ClosureOut", errors=(404,))
def closure_progress(closure_id: str) -> Response:
    """A closure: what it did, and while it goes on in the background, its progress"""
    return respond(presenters.closure(closures.progress(principal(request()), closure_id)))


@route(
    "GET", "/admin/timebooks/{timebook_id}/audit", "staff", ok=Items("AuditRecordOut"), params=PAGE, errors=(400, 404)
)
def audit_log(timebook_id: str) -> Response:
    """Who changed what in a timebook, newest first"""
    found, after = audit.log(principal(request()), timebook_id, page_of(request()))
    return respond(paged([presenters.audit_record(r) for r in found], after))


# ---- events and schedules ---------------------------------------------------------------------


@app.on_sqs_message(queue=settings.get().events_queue_name, batch_size=10)
def deliver_to_inbox(event: Any) -> dict[str, Any]:
    """Events from SQS become inbox messages, once each; failures are reported per message."""
    from chalicelib import metrics
    from chalicelib.messaging import consumer

    try:
        return consumer.handle_batch(consumer.records_of(event))
    finally:
        metrics.flush()  # the SMS sent and refused in this batch


@app.lambda_function(name="publish_availability")
def publish_availability(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The table's stream (slot changes) to the published availability documents the public
    calendar and day views read (infra/stack.yaml wires the stream, slot records only)."""
    from chalicelib.booking import availability_docs

    return availability_docs.publish_changes(event.get("Records", []))


@app.lambda_function(name="relay_events")
def relay_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The table's stream (records that carry an event) to the events queue, in order; a failed
    send is named in batchItemFailures and retried from there (infra/stack.yaml wires the stream)."""
    from chalicelib.messaging import relay

    return relay.handle_records(event.get("Records", []))


@app.on_sqs_message(queue=settings.get().helsenorge_queue_name, batch_size=5)
def send_to_helsenorge(event: Any) -> dict[str, Any]:
    """Appointment changes become PUTs of the R4 Appointment to Helsenorge; failures back off."""
    from chalicelib.messaging import helsenorge

    return helsenorge.send_batch(helsenorge.records_of(event))


@app.schedule(Rate(1, unit=Rate.MINUTES))
def publish_feed(event: Any) -> None:
    """The SMART Scheduling Links manifest and NDJSON files, to the feed bucket."""
    from chalicelib.booking import feed

    feed.publish_for_a_minute(feed.S3FeedStore())
    from chalicelib.booking import availability_docs

    availability_docs.republish()  # the public views' backstop (the stream publishes each change)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def release_expired_holds(event: Any) -> None:
    housekeeping.release_expired_holds()
    if settings.get().notifier == "sms":  # reminders held past the quiet hours, when due
        from chalicelib.messaging import sms

        sms.send_due()


@app.schedule(Rate(1, unit=Rate.MINUTES))
def admit_from_queues(event: Any) -> None:
    """The waiting rooms: admit the next in arrival order at each room's rate."""
    queue.admit()


@app.schedule(Cron(0, 16, "*", "*", "?", "*"))
def send_reminders(event: Any) -> None:
    """17:00 in Oslo in winter (18:00 in summer): reminders for tomorrow's booked appointments."""
    housekeeping.send_reminders()


@app.schedule(Rate(15, unit=Rate.MINUTES))
def erase_expired_personal_data(event: Any) -> None:
    """Personal data past its timebook's `retention_days`, erased a bounded part at a time."""
    from chalicelib.booking import retention

    retention.erase_expired()


# ---- local stage only ----------------------------------------------------------------------------

if settings.get().dev_tokens:  # set only by the local stage in .chalice/config.json

    @route("POST", "/dev/token", "local", ok="TokenOut")
    def dev_token(body: schemas.DevTokenIn) -> Response:
        """Issue a token for these claims (local stage only)"""
        from chalicelib.http.tokens import Claims, dev_token

        claims = Claims.model_validate(body.model_dump(mode="json"))  # refuse what the verifier would
        token_text = dev_token(claims.model_dump(mode="json"), settings.get().token_secret or "")
        return respond(schemas.TokenOut(token=token_text))

    @route("GET", "/dev/helsenorge/appointments", "local", ok="json")
    def dev_helsenorge_appointments() -> Response:
        """What the Helsenorge stand-in received: the newest version of each appointment (local stage only)"""
        import urllib.request

        from chalicelib.errors import Unavailable

        url = f"{(settings.get().helsenorge_appointment_url or '').rstrip('/')}/Appointment"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                body = answer.read().decode()
        except (ValueError, OSError):
            raise Unavailable("The Helsenorge stand-in is not running.") from None
        return Response(body=body, status_code=200, headers={"Content-Type": "application/json"})

    @route("GET", "/dev/sms", "local", ok="json")
    def dev_sms() -> Response:
        """The SMS moto's SNS took: to, body, appointment_id, sent_at, oldest first (local stage only)"""
        from chalicelib.errors import Unavailable
        from chalicelib.messaging.notify import captured_sms

        taken = captured_sms()
        if taken is None:
            raise Unavailable("The SMS stand-in is not running.")
        return respond({"items": taken})


# ---- CORS: the portal is another origin (chalicelib/http/cors.py) -----------------------------------
# Keep this the last line: it gives every route registered above its OPTIONS preflight
# (tests/http/test_cors.py::test_every_route_has_a_preflight fails for a route added below).

cors.install(app)
