"""Timebok: the table of contents. Every route, event and schedule, each delegating to chalicelib/."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import AuthResponse, Cron, Rate, Response
from chalice.app import AuthRequest

from chalicelib import logs, settings
from chalicelib.http import auth, cors, presenters
from chalicelib.http.application import TimebokApp
from chalicelib.http.commands import to_command
from chalicelib.http.handlers import handled, principal, reshape_chalice_errors
from chalicelib.http.requests import idempotency_key, items, page_of, paged, parse_body, query_param, respond
from chalicelib.lazy import lazy_module

# The use cases and the request models are imported on first use (chalicelib/lazy.py), not when
# Lambda imports this file: a cold start pays only for what its first request needs.
if TYPE_CHECKING:
    from chalicelib.booking import (
        appointments,
        audit,
        closures,
        discovery,
        holds,
        housekeeping,
        lifecycle,
        setup,
        slot_admin,
        staff,
        waitlist,
    )
    from chalicelib.http import schemas
else:
    appointments = lazy_module("chalicelib.booking.appointments")
    audit = lazy_module("chalicelib.booking.audit")
    closures = lazy_module("chalicelib.booking.closures")
    discovery = lazy_module("chalicelib.booking.discovery")
    holds = lazy_module("chalicelib.booking.holds")
    housekeeping = lazy_module("chalicelib.booking.housekeeping")
    lifecycle = lazy_module("chalicelib.booking.lifecycle")
    setup = lazy_module("chalicelib.booking.setup")
    slot_admin = lazy_module("chalicelib.booking.slot_admin")
    staff = lazy_module("chalicelib.booking.staff")
    waitlist = lazy_module("chalicelib.booking.waitlist")
    schemas = lazy_module("chalicelib.http.schemas")

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


def route(path: str, methods: tuple[str, ...] = ("GET",), *, signed_in: bool = False) -> Callable[..., Any]:
    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        return app.route(path, methods=list(methods), authorizer=token if signed_in else None)(handled(view))

    return register


def request() -> Any:
    return app.current_request


# ---- public: discovery and availability (steps 1-4) --------------------------------------------


@route("/health-contacts")
def list_health_contacts() -> Response:
    return respond(items([presenters.health_contact(h) for h in discovery.health_contacts()]), cache_seconds=60)


@route("/health-contacts/{hc_id}/timebooks")
def list_timebooks(hc_id: str) -> Response:
    return respond(items([presenters.timebook_summary(t) for t in discovery.timebooks(hc_id)]), cache_seconds=60)


@route("/timebooks/{timebook_id}")
def get_timebook(timebook_id: str) -> Response:
    return respond(presenters.timebook(discovery.timebook(timebook_id)), cache_seconds=60)


@route("/timebooks/{timebook_id}/calendar")
def month_calendar(timebook_id: str) -> Response:
    month = discovery.parse_month(query_param(request(), "month"))
    days = discovery.month_calendar(timebook_id, month, query_param(request(), "location"))
    body = schemas.CalendarOut(month=month, days=[schemas.CalendarDayOut(date=d, free=f) for d, f in days])
    return respond(body, cache_seconds=5)


@route("/timebooks/{timebook_id}/slots")
def free_slots(timebook_id: str) -> Response:
    day = discovery.parse_date(query_param(request(), "date"))
    found = discovery.free_slots(timebook_id, day, query_param(request(), "location"))
    return respond(schemas.SlotsOut(date=day, items=[presenters.slot(a) for a in found]), cache_seconds=5)


@route("/fhir/$bulk-publish")
def bulk_publish_manifest() -> Response:
    """SMART Scheduling Links: the manifest is a static file; send the reader to it (decision 4)."""
    from chalicelib.booking.feed import MANIFEST, MAX_AGE_SECONDS

    location = f"{(settings.get().feed_base_url or '').rstrip('/')}/{MANIFEST}"
    return Response(
        body="", status_code=302, headers={"Location": location, "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}"}
    )


@route("/openapi.json")
def openapi_document() -> Response:
    from chalicelib.http.openapi import document

    return respond(document(), cache_seconds=300)


# ---- citizen: holds and appointments (steps 4-6) ---------------------------------------------------


@route("/holds", ("POST",), signed_in=True)
def create_hold() -> Response:
    body = parse_body(request(), schemas.HoldIn)
    hold, created = holds.hold(principal(request()), to_command(body), idempotency_key(request()))
    return respond(presenters.hold(hold), status=201 if created else 200)


@route("/holds/{hold_id}", ("DELETE",), signed_in=True)
def delete_hold(hold_id: str) -> Response:
    holds.release_hold(principal(request()), hold_id)
    return Response(body="", status_code=204)


@route("/appointments", ("POST",), signed_in=True)
def create_appointment() -> Response:
    body = parse_body(request(), schemas.AppointmentIn)
    key = idempotency_key(request())
    appointment, created = appointments.book(principal(request()), to_command(body), key)
    return respond(presenters.appointment(appointment), status=201 if created else 200)


@route("/appointments", signed_in=True)
def list_appointments() -> Response:
    found, after = appointments.mine_page(principal(request()), page_of(request()))
    return respond(paged([presenters.appointment(a) for a in found], after))


@route("/appointments/{appointment_id}", signed_in=True)
def get_appointment(appointment_id: str) -> Response:
    return respond(presenters.appointment(appointments.appointment_of_mine(principal(request()), appointment_id)))


@route("/appointments/{appointment_id}/ics", signed_in=True)
def appointment_calendar(appointment_id: str) -> Response:
    return Response(
        body=appointments.calendar_of_mine(principal(request()), appointment_id),
        status_code=200,
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{appointment_id}.ics"',
        },
    )


@route("/appointments/{appointment_id}/fhir", signed_in=True)
def appointment_fhir(appointment_id: str) -> Response:
    """The same R4 Appointment that is sent to Helsenorge."""
    resource = appointments.fhir_of_mine(principal(request()), appointment_id)
    return Response(
        body=json.dumps(resource, ensure_ascii=False),
        status_code=200,
        headers={"Content-Type": "application/fhir+json", "Cache-Control": "no-store"},
    )


@route("/appointments/{appointment_id}/cancel", ("POST",), signed_in=True)
def cancel_appointment(appointment_id: str) -> Response:
    return respond(presenters.appointment(lifecycle.cancel(principal(request()), appointment_id)))


@route("/appointments/{appointment_id}/reschedule", ("POST",), signed_in=True)
def reschedule_appointment(appointment_id: str) -> Response:
    body = parse_body(request(), schemas.RescheduleIn)
    return respond(presenters.appointment(lifecycle.reschedule(principal(request()), appointment_id, body.slot_id)))


@route("/waitlist", ("POST",), signed_in=True)
def join_waitlist() -> Response:
    body = parse_body(request(), schemas.WaitlistIn)
    return respond(presenters.waitlist_entry(waitlist.join(principal(request()), to_command(body))), status=201)


@route("/waitlist", signed_in=True)
def list_waitlist() -> Response:
    found, after = waitlist.mine(principal(request()), page_of(request()))
    return respond(paged([presenters.waitlist_entry(e) for e in found], after))


@route("/waitlist/{entry_id}", ("DELETE",), signed_in=True)
def withdraw_from_waitlist(entry_id: str) -> Response:
    waitlist.withdraw(principal(request()), entry_id)
    return Response(body="", status_code=204)


@route("/inbox", signed_in=True)
def inbox() -> Response:
    found, after = appointments.inbox_page(principal(request()), page_of(request()))
    return respond(paged([presenters.inbox_message(m) for m in found], after))


# ---- staff: set-up ------------------------------------------------------------------------------


@route("/admin/health-contacts", ("POST",), signed_in=True)
def create_health_contact() -> Response:
    body = parse_body(request(), schemas.HealthContactIn)
    return respond(
        presenters.health_contact(setup.create_health_contact(principal(request()), to_command(body))), status=201
    )


@route("/admin/timebooks", ("POST",), signed_in=True)
def create_timebook() -> Response:
    body = parse_body(request(), schemas.TimebookIn)
    return respond(presenters.timebook(setup.create_timebook(principal(request()), to_command(body))), status=201)


@route("/admin/timebooks/{timebook_id}/locations", ("POST",), signed_in=True)
def create_location(timebook_id: str) -> Response:
    body = parse_body(request(), schemas.LocationIn)
    location = setup.add_location(principal(request()), timebook_id, to_command(body))
    return respond(presenters.location(location), status=201)


@route("/admin/timebooks/{timebook_id}/schedules", ("POST",), signed_in=True)
def create_schedule(timebook_id: str) -> Response:
    body = parse_body(request(), schemas.ScheduleIn)
    created = setup.add_schedule(principal(request()), timebook_id, to_command(body))
    return respond(schemas.ScheduleOut(created=created), status=201)


@route("/admin/timebooks/{timebook_id}/overview", signed_in=True)
def resource_overview(timebook_id: str) -> Response:
    day = discovery.parse_date(query_param(request(), "date"))
    rows = staff.overview(principal(request()), timebook_id, day, query_param(request(), "location"))
    return respond(items([presenters.overview_row(r) for r in rows]))


@route("/admin/appointments", signed_in=True)
def staff_appointments() -> Response:
    raw_day = query_param(request(), "date")
    day = discovery.parse_date(raw_day) if raw_day else None
    found, after = staff.appointments(
        principal(request()),
        query_param(request(), "timebook_id"),
        query_param(request(), "status"),
        day,
        page_of(request()),
    )
    return respond(paged([presenters.appointment(a) for a in found], after))


@route("/admin/appointments/{appointment_id}/confirm", ("POST",), signed_in=True)
def confirm_appointment(appointment_id: str) -> Response:
    return respond(presenters.appointment(lifecycle.confirm(principal(request()), appointment_id)))


@route("/admin/appointments/{appointment_id}/reject", ("POST",), signed_in=True)
def reject_appointment(appointment_id: str) -> Response:
    body = parse_body(request(), schemas.ReasonIn)
    return respond(presenters.appointment(lifecycle.reject(principal(request()), appointment_id, body.reason)))


@route("/admin/appointments/{appointment_id}/cancel", ("POST",), signed_in=True)
def staff_cancel_appointment(appointment_id: str) -> Response:
    body = parse_body(request(), schemas.ReasonIn)
    return respond(presenters.appointment(lifecycle.cancel_as_staff(principal(request()), appointment_id, body.reason)))


# ---- staff: slot editing, closures, audit -----------------------------------------------------


@route("/admin/slots/{slot_id}", ("PATCH",), signed_in=True)
def change_slot(slot_id: str) -> Response:
    body = parse_body(request(), schemas.SlotPatchIn)
    return respond(presenters.admin_slot(slot_admin.change(principal(request()), slot_id, to_command(body))))


@route("/admin/timebooks/{timebook_id}/closures", ("POST",), signed_in=True)
def close_slots(timebook_id: str) -> Response:
    body = parse_body(request(), schemas.ClosureIn)
    return respond(presenters.closure(closures.close(principal(request()), timebook_id, to_command(body))))


@route("/admin/timebooks/{timebook_id}/audit", signed_in=True)
def audit_log(timebook_id: str) -> Response:
    found, after = audit.log(principal(request()), timebook_id, page_of(request()))
    return respond(paged([presenters.audit_record(r) for r in found], after))


# ---- events and schedules ---------------------------------------------------------------------


@app.on_sqs_message(queue=settings.get().events_queue_name, batch_size=10)
def deliver_to_inbox(event: Any) -> dict[str, Any]:
    """Events from SQS become inbox messages, once each; failures are reported per message."""
    from chalicelib.messaging import consumer

    return consumer.handle_batch(consumer.records_of(event))


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


@app.schedule(Rate(1, unit=Rate.MINUTES))
def release_expired_holds(event: Any) -> None:
    housekeeping.release_expired_holds()


@app.schedule(Cron(0, 16, "*", "*", "?", "*"))
def send_reminders(event: Any) -> None:
    """17:00 in Oslo in winter (18:00 in summer): reminders for tomorrow's booked appointments."""
    housekeeping.send_reminders()


# ---- local stage only ----------------------------------------------------------------------------

if settings.get().dev_tokens:  # set only by the local stage in .chalice/config.json

    @route("/dev/token", ("POST",))
    def dev_token() -> Response:
        from chalicelib.http.tokens import Claims, issue_token

        body = parse_body(request(), schemas.DevTokenIn)
        claims = Claims.model_validate(body.model_dump(mode="json"))  # refuse what the verifier would
        token_text = issue_token(claims.model_dump(mode="json"), settings.get().token_secret or "")
        return respond(schemas.TokenOut(token=token_text))

    @route("/dev/helsenorge/appointments")
    def dev_helsenorge_appointments() -> Response:
        """What the local Helsenorge stand-in received: the newest version of each appointment."""
        import urllib.request

        from chalicelib.errors import Unavailable

        url = f"{(settings.get().helsenorge_appointment_url or '').rstrip('/')}/Appointment"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                body = answer.read().decode()
        except (ValueError, OSError):
            raise Unavailable("The Helsenorge stand-in is not running.") from None
        return Response(body=body, status_code=200, headers={"Content-Type": "application/json"})

# ---- CORS: the portal is another origin (chalicelib/http/cors.py) -----------------------------------
# Keep this the last line: it gives every route registered above its OPTIONS preflight
# (tests/http/test_cors.py::test_every_route_has_a_preflight fails for a route added below).

cors.install(app)
