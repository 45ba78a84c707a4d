"""Logs never carry personal data (DESIGN.md decision 6), and every line is one JSON object.

A whole day of Timebok runs with every log record captured at DEBUG on the root logger: set-up,
discovery, a hold, an appointment with answers, phone and description, staff confirming, the
citizen cancelling, a parent booking for a child and moving it, refused requests (a bad phone and
a bad identity number, someone else's appointment, a wrong state), a throttled DynamoDB call whose
error text quotes an identity number, and the stream relay and SQS consumer writing the inbox.

No record may contain the citizen's or the child's identity number, the phone number in any
spelling, the description or a free-text answer: not in its message, not in its arguments, and
not in the line `chalicelib.logs.RedactingJsonFormatter` writes. The formatter's masking is the
second line of defence; these tests check the first (code that never logs such things), so they
look at the raw record as well as at the formatted line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib import clock
from chalicelib.logs import RedactingConsoleFormatter, RedactingJsonFormatter, access_logger, redact
from tests.conftest import Citizen, token_for
from tests.factories import make_pid
from tests.helpers import free_days, free_slots, relay_stream

HER_ID = "8100055"
DESCRIPTION = "Vondt i halsen siden mandag, hoster om natten (beskrivelse-7f3a)"
TEXT_ANSWER = "Astma og allergi mot penicillin (svar-91c2)"
CHILD_ANSWER = "Eksem på armene, bruker kortisonkrem (svar-b7e4)"
BAD_PHONE = "+47 12 34"


def _phone_spellings(phone: str) -> set[str]:
    """A Norwegian number as typed, in E.164, as bare digits, national with and without spaces."""
    digits = re.sub(r"\D", "", phone)
    national = digits[2:] if digits.startswith("47") and len(digits) == 10 else digits
    return {
        phone,
        f"+{digits}",
        digits,
        national,
        f"{national[:3]} {national[3:5]} {national[5:]}",
        f"00{digits}",
    }


def _change_check_digit(pid: str) -> str:
    return pid[:-1] + str((int(pid[-1]) + 1) % 10)


def _timebook_body(health_contact_id: str) -> dict[str, Any]:
    return {
        "health_contact_id": health_contact_id,
        "name": "Allergiutredning",
        "type": "konsultasjon",
        "description": "Time hos allergolog.",
        "resource": {"name": "Allergolog, Helsenorge Kommune", "description": ""},
        "requires_confirmation": True,
        "hold_minutes": 10,
        "cancel_deadline_hours": 2,
        "form": {
            "title": "Før timen",
            "questions": [
                {"id": "feber", "text": "Har du feber?", "kind": "yes_no", "required": True},
                {"id": "annet", "text": "Noe vi bør vite?", "kind": "text", "required": False},
            ],
        },
    }


def _schedule_body(location_id: str) -> dict[str, Any]:
    first = clock.local(clock.now()).date() + timedelta(days=1)
    return {
        "location_id": location_id,
        "from": first.isoformat(),
        "to": (first + timedelta(days=13)).isoformat(),
        "weekdays": [1, 2, 3, 4, 5],
        "start_time": "08:00",
        "end_time": "10:00",
        "slot_minutes": 15,
        "capacity": 2,
    }


def _throttled_quoting(pid: str) -> Any:
    """DynamoDB refusing after botocore's retries, with an error text that quotes a key value."""
    from botocore.exceptions import ClientError
    from pynamodb.exceptions import GetError

    def fail(*_: Any, **__: Any) -> Any:
        raise GetError(
            "Failed to get item",
            ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": f"key {pid}"}}, "GetItem"
            ),
        )

    return fail


def _sqs_down(self: Any, message: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    raise ClientError(
        {"Error": {"Code": "ServiceUnavailable", "Message": f"could not take {json.dumps(message)}"}}, "SendMessage"
    )


class _FailingNotifier:
    """An SMS gateway that refuses every other message, quoting the number it was given."""

    def __init__(self, phone: str) -> None:
        self.phone, self.calls = phone, 0

    def notify(self, pid: str, kind: str, title: str, body: str, appointment_id: str, **_: Any) -> None:
        self.calls += 1
        if self.calls % 2:
            raise RuntimeError(f"gateway refused {self.phone} for {pid}: {body}")


def _run_a_day(client: Any, monkeypatch: pytest.MonkeyPatch, citizen: Citizen, parent: Citizen, child_pid: str) -> None:
    staff = token_for(make_pid(690), "staff", "Sara Saksbehandler", orgs=[HER_ID])
    ok = {200, 201, 204}

    def expect(resp: Any, *statuses: int) -> Any:
        assert resp.status in (statuses or ok), resp
        return resp.json

    # The municipality sets up a timebook with a free-text question.
    contact = {"organisation": "Helsenorge Kommune", "service": "Allergi", "her_id": HER_ID}
    hc = expect(client.post("/admin/health-contacts", contact, token=staff))
    tb = expect(client.post("/admin/timebooks", _timebook_body(hc["id"]), token=staff))
    location = {"name": "Allergipoliklinikken", "address": "Gaten 9, 0271 Oslo", "directions": "3. etasje"}
    loc = expect(client.post(f"/admin/timebooks/{tb['id']}/locations", location, token=staff))
    expect(client.post(f"/admin/timebooks/{tb['id']}/schedules", _schedule_body(loc["id"]), token=staff))

    # Discovery (steps 1-4).
    expect(client.get("/health-contacts"))
    expect(client.get(f"/health-contacts/{hc['id']}/timebooks"))
    expect(client.get(f"/timebooks/{tb['id']}"))
    day = free_days(client, tb["id"])[0]["date"]
    slots = free_slots(client, tb["id"], day)

    # Hold and appointment (step 5) with answers, phone and description, under an Idempotency-Key.
    hold = expect(client.post("/holds", {"slot_id": slots[0]["id"]}, token=citizen.token))
    body = {
        "hold_id": hold["id"],
        "answers": {"feber": "nei", "annet": TEXT_ANSWER},
        "phone": citizen.phone,
        "description": DESCRIPTION,
    }
    headers = {"Idempotency-Key": f"key-{citizen.pid}"}  # a careless client puts the pid in the key
    made = expect(client.post("/appointments", body, token=citizen.token, headers=headers))
    again = expect(client.post("/appointments", body, token=citizen.token, headers=headers))
    assert again["id"] == made["id"]

    # Step 6 and the municipality: list, detail, calendar file, confirm, cancel.
    expect(client.get("/appointments", token=citizen.token))
    expect(client.get(f"/appointments/{made['id']}", token=citizen.token))
    assert client.get(f"/appointments/{made['id']}/ics", token=citizen.token).status == 200
    expect(client.get(f"/admin/timebooks/{tb['id']}/overview?date={day}", token=staff))
    expect(client.get(f"/admin/appointments?timebook_id={tb['id']}", token=staff))
    expect(client.post(f"/admin/appointments/{made['id']}/confirm", {}, token=staff))
    expect(client.post(f"/appointments/{made['id']}/cancel", {}, token=citizen.token))

    # A parent books for a child (phone typed another way) and moves it; staff reject the request.
    child_body = {
        "slot_id": slots[1]["id"],
        "for_pid": child_pid,
        "answers": {"feber": True, "annet": CHILD_ANSWER},
        "phone": "0047 " + re.sub(r"\D", "", parent.phone)[2:],
        "description": DESCRIPTION,
    }
    # SQS is down meanwhile, and its error text quotes the message (identity number included):
    # the stream relay reports the record failed (retried later), and the log names the error's type only.
    with monkeypatch.context() as patch:
        patch.setattr("chalicelib.messaging.publisher.SqsPublisher.send", _sqs_down)
        for_child = expect(client.post("/appointments", child_body, token=parent.token))
        moved = client.post(
            f"/appointments/{for_child['id']}/reschedule", {"slot_id": slots[2]["id"]}, token=parent.token
        )
        expect(moved)
        assert relay_stream().failed == 1
    expect(client.post(f"/admin/appointments/{for_child['id']}/reject", {"reason": "Fullt"}, token=staff))

    # Refused requests: a bad phone and a bad identity number; someone not represented; wrong state;
    # someone else's appointment. All 4xx.
    bad = {**child_body, "phone": BAD_PHONE, "for_pid": _change_check_digit(child_pid)}
    refused = client.post("/appointments", bad, token=parent.token)
    assert refused.status == 400, refused
    assert {f["field"] for f in refused.json["error"]["fields"]} >= {"phone", "for_pid"}
    assert BAD_PHONE not in refused.text and _change_check_digit(child_pid) not in refused.text
    not_represented = {**child_body, "for_pid": make_pid(699)}
    expect(client.post("/appointments", not_represented, token=citizen.token), 403)
    expect(client.post(f"/appointments/{made['id']}/cancel", {}, token=citizen.token), 409)
    expect(client.get(f"/appointments/{for_child['id']}", token=citizen.token), 404)
    expect(client.post("/holds", {"slot_id": "nope"}, token=citizen.token), 404)

    # DynamoDB throttles, and its error text quotes the identity number: 429, logged by type only.
    with monkeypatch.context() as patch:
        patch.setattr("chalicelib.storage.repository.get_slot", _throttled_quoting(citizen.pid))
        patch.setattr("chalicelib.storage.repository.read_slot_and_person", _throttled_quoting(citizen.pid))
        patch.setattr("chalicelib.storage.repository.read_hold_state", _throttled_quoting(citizen.pid))
        patch.setattr("chalicelib.storage.repository.get_appointment", _throttled_quoting(citizen.pid))
        expect(client.post("/holds", {"slot_id": slots[3]["id"]}, token=citizen.token), 429)
        expect(client.get(f"/appointments/{made['id']}", token=citizen.token), 429)

    # Events: the relay and the SQS consumer write the inbox (the SMS gateway failing once, with
    # the phone number in its error text); the schedules run once.
    with monkeypatch.context() as patch:
        patch.setattr("chalicelib.messaging.notify._configured", _FailingNotifier(citizen.phone))
        _relay_and_consume()
    from chalicelib.booking import housekeeping

    housekeeping.release_expired_holds()
    housekeeping.send_reminders()
    inbox = expect(client.get("/inbox", token=parent.token))
    assert inbox["items"], "the consumer wrote no inbox messages"


def _relay_and_consume() -> None:
    import os

    from chalicelib.messaging import consumer
    from chalicelib.messaging.local_consumer import drain_queue

    assert relay_stream().failed == 0
    drain_queue(os.environ["EVENTS_QUEUE_URL"], consumer.handle_batch, visibility_timeout=0)
    drain_queue(os.environ["EVENTS_QUEUE_URL"], consumer.handle_batch, visibility_timeout=0)  # nothing twice


@pytest.fixture
def day_of_logs(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, app_loggers_through: None
) -> dict[str, Any]:
    child_pid = make_pid(612)
    citizen = Citizen(611)
    parent = Citizen(613, represents=[{"pid": child_pid, "name": "Barn Barnesen"}])
    caplog.set_level(logging.DEBUG)  # the root logger and caplog's handler
    _run_a_day(client, monkeypatch, citizen, parent, child_pid)
    records = list(caplog.records)  # this fixture runs in the setup phase: its records
    secrets = {
        "citizen's identity number": {citizen.pid},
        "parent's identity number": {parent.pid},
        "child's identity number": {child_pid},
        "bad identity number": {_change_check_digit(child_pid)},
        "phone": _phone_spellings(citizen.phone) | _phone_spellings(parent.phone),
        "bad phone": {BAD_PHONE, re.sub(r"\D", "", BAD_PHONE)},
        "description": {DESCRIPTION, DESCRIPTION[:30]},
        "answer": {TEXT_ANSWER, CHILD_ANSWER},
    }
    return {"records": records, "secrets": secrets}


@pytest.fixture
def app_loggers_through(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """See everything Timebok's own loggers say, whatever Chalice did to the "timebok" logger.

    `Chalice(app_name="timebok")` gives the logger "timebok" (the parent of every "timebok.*"
    logger) its own stdout handler, level ERROR and `propagate = False` (see
    test_app_loggers_reach_the_json_handler). To check what the code would log, the capture here
    undoes that for the duration of the test.
    """
    import app  # noqa: F401  (Chalice configures its logger when the app is made)

    chalice_log = logging.getLogger("timebok")
    monkeypatch.setattr(chalice_log, "handlers", [])
    monkeypatch.setattr(chalice_log, "propagate", True)
    level = chalice_log.level
    chalice_log.setLevel(logging.NOTSET)
    yield
    chalice_log.setLevel(level)


def _texts(record: logging.LogRecord) -> dict[str, str]:
    return {
        "message": record.getMessage(),
        "msg": str(record.msg),
        "args": repr(record.args),
        "formatted": RedactingJsonFormatter().format(record),
    }


def test_no_personal_data_in_any_log_record(day_of_logs: dict[str, Any]) -> None:
    records: list[logging.LogRecord] = day_of_logs["records"]
    assert records, "the flow logged nothing at all: the capture is not working"
    assert any(r.name.startswith("timebok") for r in records), [r.name for r in records]
    leaks = []
    for record in records:
        for where, text in _texts(record).items():
            for what, values in day_of_logs["secrets"].items():
                if any(value in text for value in values):
                    leaks.append(f"{what} in {where} of {record.name}:{record.lineno} {record.msg!r}")
    assert not leaks, "\n".join(leaks)


def test_every_formatted_line_is_json(day_of_logs: dict[str, Any]) -> None:
    formatter = RedactingJsonFormatter()
    for record in day_of_logs["records"]:
        line = formatter.format(record)
        assert "\n" not in line, line
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        assert entry["level"] == record.levelname and entry["logger"] == record.name
        assert entry["time"].endswith("+00:00"), entry


def test_the_throttled_call_is_logged_by_type_and_place_only(day_of_logs: dict[str, Any]) -> None:
    faults = [r for r in day_of_logs["records"] if r.name == "timebok.http" and r.levelno >= logging.WARNING]
    assert faults, "a throttled DynamoDB call was not logged"
    for record in faults:
        assert "GetError" in record.getMessage() and record.exc_info is None, record.getMessage()


@pytest.mark.parametrize(
    "text",
    [
        make_pid(611),
        f"{make_pid(611)[:6]} {make_pid(611)[6:]}",
        "+47 900 00 611",
        "+4790000611",
        "004790000611",
        "900 00 611",
        "90000611",
    ],
)
def test_redaction_masks_what_slips_through(text: str) -> None:
    """The second line: an identity number or phone in a message is masked in the written line."""
    record = logging.LogRecord("timebok.test", logging.INFO, __file__, 1, "for %s", (text,), None)
    line = RedactingJsonFormatter().format(record)
    assert text not in line and json.loads(line)["message"] == "for [redacted]"
    assert redact(f"ring {text} i dag") == "ring [redacted] i dag"


# ---- the mask eats personal data, never a status or a duration ----------------------------------

STATUSES = st.integers(100, 599)
SHORT_NUMBERS = st.integers(100, 999_999)  # 3 to 6 digits: durations, counts, sizes
NORWEGIAN = st.integers(20_000_000, 99_999_999).map(str)  # 8 digits, first 2-9: every national number


def _access_line(status: int, milliseconds: int) -> tuple[str, str]:
    """`chalicelib.logs.access`'s record (`GET /x 200 12905 ms`) as both formatters write it."""
    record = access_logger.makeRecord(
        access_logger.name,
        logging.INFO,
        __file__,
        1,
        "%s %s %d %.0f ms",
        ("GET", "/holds/h1", status, milliseconds),
        None,
    )
    return json.loads(RedactingJsonFormatter().format(record))["message"], RedactingConsoleFormatter().format(record)


@pytest.mark.parametrize("milliseconds", [100, 999, 1000, 12905, 99999, 100000, 234567, 999999])
@pytest.mark.parametrize("status", [200, 201, 404, 429, 503])
def test_an_access_line_keeps_its_status_and_milliseconds(status: int, milliseconds: int) -> None:
    message, console = _access_line(status, milliseconds)
    assert message == f"GET /holds/h1 {status} {milliseconds} ms"
    assert console.endswith(f" GET /holds/h1 {status} {milliseconds} ms")


@given(status=STATUSES, milliseconds=st.integers(0, 999_999))
def test_no_access_line_loses_its_status_or_duration(status: int, milliseconds: int) -> None:
    line = f"POST /appointments {status} {milliseconds} ms"
    assert redact(line) == line
    assert _access_line(status, milliseconds)[0] == f"GET /holds/h1 {status} {milliseconds} ms"


@given(
    numbers=st.lists(SHORT_NUMBERS, min_size=1, max_size=6),
    separators=st.lists(st.sampled_from([" ", " ms ", ", ", "/", " of ", " -> ", ": "]), min_size=6, max_size=6),
)
def test_short_numbers_in_free_text_are_kept(numbers: list[int], separators: list[str]) -> None:
    text = "".join(f"{n}{separator}" for n, separator in zip(numbers, separators, strict=False)).strip()
    # A 6-digit number, one space and a 5-digit one is a spaced identity number: masked on purpose.
    assume(re.search(r"(?<!\d)\d{6} \d{5}(?!\d)", text) is None)
    assert redact(f"relay moved {text} events") == f"relay moved {text} events"


@given(number=NORWEGIAN, status=STATUSES, milliseconds=SHORT_NUMBERS)
def test_every_spelling_of_a_norwegian_number_is_masked(number: str, status: int, milliseconds: int) -> None:
    parsed = phonenumbers.parse(f"+47{number}")
    spellings = {
        number,
        f"{number[:3]} {number[3:5]} {number[5:]}",
        f"{number[:2]} {number[2:4]} {number[4:6]} {number[6:]}",
        f"+47{number}",
        f"0047{number}",
        f"+47 {number[:3]} {number[3:5]} {number[5:]}",
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
    }
    for spelling in spellings:
        assert redact(f"ring {spelling} i dag") == "ring [redacted] i dag", spelling
        line = f"POST /x {status} {milliseconds} ms; sms to {spelling} failed"
        assert redact(line) == f"POST /x {status} {milliseconds} ms; sms to [redacted] failed", spelling


@given(st.integers(0, 99_999_999_999).map(lambda n: f"{n:011d}"), st.sampled_from(["", " ", "-"]))
def test_every_eleven_digit_identity_number_is_masked(digits: str, separator: str) -> None:
    pid = f"{digits[:6]}{separator}{digits[6:]}"
    assert redact(f"for {pid}: 200 1234 ms") == "for [redacted]: 200 1234 ms"


def test_app_loggers_reach_the_json_handler(caplog: pytest.LogCaptureFixture) -> None:
    import app  # noqa: F401

    caplog.set_level(logging.INFO)
    for name in ("timebok.http", "timebok.messaging.relay", "timebok.events"):
        logging.getLogger(name).warning("probe from %s", name)
    assert {r.name for r in caplog.records} >= {"timebok.http", "timebok.messaging.relay", "timebok.events"}
    for logger in (logging.getLogger("timebok"), logging.getLogger("timebok.http")):
        for handler in logger.handlers:
            assert isinstance(handler.formatter, RedactingJsonFormatter), (logger.name, handler)


def test_principal_id_does_not_reveal_the_identity_number() -> None:
    import hashlib

    from stdnum.no import fodselsnummer

    from chalicelib.http.auth import principal_id

    pid = make_pid(611)
    logged = principal_id(pid)
    assert principal_id(pid) == logged, "stable within a process, so one person's requests can be followed"

    def attacker_hash(candidate: str) -> str:
        # Without the key, the best an attacker can do is the unkeyed hashes.
        return hashlib.sha256(candidate.encode()).hexdigest()[: len(logged)]

    # An attacker with the log line and a guess at the birth date (or 36 500 of them) tries every number.
    recovered = None
    for individual in range(1000):
        candidate = f"{pid[:6]}{individual:03d}"
        try:
            candidate += fodselsnummer.calc_check_digit1(candidate)
            candidate += fodselsnummer.calc_check_digit2(candidate)
        except Exception:
            continue
        if len(candidate) == 11 and attacker_hash(candidate) == logged:
            recovered = candidate
            break
    assert recovered is None, "the principal id in the gateway's logs gives the identity number back"
