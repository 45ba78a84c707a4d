"""Helsenorge «Timeavtaler»: every appointment change arrives, in order, newest wins, nothing lost."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.fhir import codes
from chalicelib.messaging import helsenorge
from tests.conftest import KORONATEST_ANSWERS, REGION, Citizen
from tests.helpers import book_body, first_free_slot, relay_stream
from tests.standards.conftest import Standards, http
from tests.standards.fhir_checks import INSTANT, parse_r4b


def book(client: Any, demo: Any, citizen: Citizen) -> dict[str, Any]:
    slot = first_free_slot(client, demo.koronatest_id)
    response = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"]), token=citizen.token
    )
    assert response.status == 201, response
    return response.json


def confirm(client: Any, staff_token: str, appointment_id: str) -> None:
    assert client.post(f"/admin/appointments/{appointment_id}/confirm", {}, token=staff_token).status == 200


def cancel(client: Any, citizen: Citizen, appointment_id: str) -> None:
    assert client.post(f"/appointments/{appointment_id}/cancel", {}, token=citizen.token).status == 200


def test_a_booking_a_confirm_and_a_cancel_arrive_in_order_with_increasing_versions(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    elise = Citizen(41)
    booked = book(client, demo, elise)
    standards.send_to_helsenorge()
    confirm(client, staff_token, booked["id"])
    standards.send_to_helsenorge()
    cancel(client, elise, booked["id"])
    standards.send_to_helsenorge()
    assert standards.receiver.received == [
        (booked["id"], 0, "pending"),
        (booked["id"], 1, "booked"),
        (booked["id"], 2, "cancelled"),
    ]
    (kept,) = standards.receiver.items()
    # Volven 8445 (the profile's preferred system) first, HL7's code beside it
    assert [(c["system"], c["code"]) for c in kept["cancelationReason"]["coding"]] == [
        (codes.VOLVEN_CANCELLATION_REASON, "2"),
        (codes.CANCELLATION_REASON, "pat"),
    ]
    assert standards.queued() == 0 and standards.queued(dead_letter=True) == 0


def test_changes_sent_together_never_go_backwards(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    """Three changes before the sender runs: each send is the newest state, so versions never drop."""
    jon = Citizen(42)
    booked = book(client, demo, jon)
    confirm(client, staff_token, booked["id"])
    cancel(client, jon, booked["id"])
    standards.send_to_helsenorge()
    versions = [version for _, version, _ in standards.receiver.received]
    assert versions == sorted(versions) and versions[-1] == 2
    assert standards.receiver.items()[0]["status"] == "cancelled"


def test_the_receiver_down_for_a_while_loses_nothing(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    kari, ola = Citizen(43), Citizen(44)
    standards.receiver.down = True
    first = book(client, demo, kari)
    second = book(client, demo, ola)
    confirm(client, staff_token, first["id"])
    for _ in range(5):  # five tries while it is down: each fails, is backed off and stays queued
        standards.send_to_helsenorge(rounds=1)
    assert standards.receiver.received == []
    assert standards.queued() == 3 and standards.queued(dead_letter=True) == 0
    standards.receiver.down = False
    for _ in range(5):
        standards.send_to_helsenorge()
    newest = {r["id"]: (r["meta"]["versionId"], r["status"]) for r in standards.receiver.items()}
    assert newest == {first["id"]: ("1", "booked"), second["id"]: ("0", "pending")}
    assert standards.queued() == 0


def test_a_redelivered_old_message_does_not_go_backwards(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    per = Citizen(45)
    sqs = boto3.client("sqs", region_name=REGION)
    queue = standards.resources["helsenorge_queue_url"]
    booked = book(client, demo, per)
    relay_stream()
    (first_message,) = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"]
    standards.send_to_helsenorge()
    confirm(client, staff_token, booked["id"])
    cancel(client, per, booked["id"])
    standards.send_to_helsenorge()
    # The booking's message again, long after (beyond FIFO deduplication: a new deduplication id).
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=first_message["Body"],
        MessageGroupId=booked["id"],
        MessageDeduplicationId="redelivered",
    )
    standards.send_to_helsenorge()
    assert standards.receiver.received[-1][1:] == (2, "cancelled")
    assert standards.receiver.items()[0]["meta"]["versionId"] == "2"


def test_failures_back_off_exponentially(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELSENORGE_RETRY_BASE_SECONDS", "30")
    assert [helsenorge.backoff_seconds(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]


def test_the_resource_is_r4b_in_the_hn_basis_shape(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    elise = Citizen(46)
    booked = book(client, demo, elise)
    assert (
        client.post(f"/admin/appointments/{booked['id']}/reject", {"reason": "Fullt"}, token=staff_token).status == 200
    )
    standards.send_to_helsenorge()
    (sent,) = standards.receiver.items()
    parse_r4b(sent)
    (identifier,) = sent["identifier"]
    assert identifier["value"] == booked["id"] and identifier["system"]
    assert identifier["assigner"]["identifier"] == {"system": codes.HER_ID, "value": "8100001"}
    assert INSTANT.match(sent["meta"]["lastUpdated"]) and INSTANT.match(sent["start"]) and INSTANT.match(sent["end"])
    assert sent["status"] == "cancelled"
    assert sent["cancelationReason"] == {
        "coding": [
            {
                "system": codes.VOLVEN_CANCELLATION_REASON,
                "code": "9",
                "display": "Annen årsak til ventetid slutt/helsehjelp uaktuelt",
            },
            {"system": codes.CANCELLATION_REASON, "code": "prov", "display": "Provider"},
        ],
        "text": "Fullt",
    }
    actors = [p["actor"] for p in sent["participant"]]
    assert {"system": codes.FODSELSNUMMER, "value": elise.pid} in [a.get("identifier") for a in actors]
    # issue 19: hn-basis-appointment as published: contained parties, Community Health Care,
    # the timebook type in serviceType, the health contact as HealthcareService and kommunikasjonspart
    assert sent["meta"]["profile"] == [codes.HN_BASIS_APPOINTMENT]
    contained = {f"#{r['id']}": r for r in sent["contained"]}
    assert [contained[a["reference"]]["resourceType"] for a in actors[1:]] == ["Location", "HealthcareService"]
    assert contained["#loc"]["managingOrganization"] == {"reference": "#org"}
    (party,) = [contained[r["reference"]] for r in sent["supportingInformation"]]
    assert party["identifier"] == [{"system": codes.HER_ID, "value": "8100001"}] and party["partOf"]
    assert sent["serviceCategory"] == [{"coding": [codes.COMMUNITY_HEALTH_CARE]}]
    assert "koronatest" in {c["code"] for c in sent["serviceType"][0]["coding"]}
    assert {"system": codes.VOLVEN_INNBYGGER_TIMETYPE, "code": "Lab", "display": "Lab time"} in sent["appointmentType"][
        "coding"
    ]
    assert sent["appointmentType"]["text"] == "Koronatest"


def test_the_owner_gets_the_same_resource_as_fhir_json(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    elise, other = Citizen(47), Citizen(48)
    booked = book(client, demo, elise)
    confirm(client, staff_token, booked["id"])
    standards.send_to_helsenorge()
    response = client.get(f"/appointments/{booked['id']}/fhir", token=elise.token)
    assert response.status == 200 and response.headers["content-type"] == "application/fhir+json"
    assert response.json == standards.receiver.items()[0]
    assert client.get(f"/appointments/{booked['id']}/fhir", token=other.token).status == 404
    assert client.get(f"/appointments/{booked['id']}/fhir").status == 401


def test_a_d_number_is_sent_with_its_own_system() -> None:
    assert codes.person_identifier_system("41018012345") == codes.D_NUMMER
    assert codes.person_identifier_system("24085038849") == codes.FODSELSNUMMER


def test_no_personal_data_in_logs(
    standards: Standards, demo: Any, client: Any, staff_token: str, helsenorge_log: pytest.LogCaptureFixture
) -> None:
    elise = Citizen(49)
    standards.receiver.down = True
    booked = book(client, demo, elise)
    standards.send_to_helsenorge(rounds=1)
    standards.receiver.down = False
    standards.send_to_helsenorge()
    text = "\n".join(r.getMessage() for r in helsenorge_log.records)
    assert booked["id"] in text  # it did log
    for secret in (elise.pid, elise.phone, elise.name, elise.phone.replace(" ", "")):
        assert secret not in text


def test_reminders_are_not_changes_and_nothing_is_queued_without_an_endpoint(
    standards: Standards, demo: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.messaging.conftest import event

    sqs = boto3.client("sqs", region_name=REGION)
    publisher = helsenorge.HelsenorgePublisher(standards.resources["helsenorge_queue_url"], sqs)
    publisher.publish(event("ap9", "reminder").message)
    publisher.publish(event("wl9", "closed", waitlist="yes").message)  # a note to a waiting person
    assert standards.queued() == 0
    monkeypatch.delenv("HELSENORGE_APPOINTMENT_URL")
    from chalicelib.messaging.publisher import SqsPublisher, relay_publisher

    assert isinstance(relay_publisher(), SqsPublisher)  # only the inbox's queue
    book(client, demo, Citizen(50))
    relay_stream()
    assert standards.queued() == 0


def test_without_helseid_nothing_is_pretended(
    standards: Standards, demo: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELSENORGE_TOKEN_PROVIDER", "helseid")
    book(client, demo, Citizen(51))
    standards.send_to_helsenorge(rounds=1)
    assert standards.receiver.received == [] and standards.queued() == 1
    with pytest.raises(helsenorge.TokenUnavailable):
        helsenorge.HelseIdClientCredentials().token()


def test_the_stand_in_refuses_what_is_not_valid(standards: Standards) -> None:
    url = f"{standards.server.helsenorge_url}/Appointment/ap1"
    bearer = {"Authorization": "Bearer local-helsenorge-token", "Content-Type": "application/fhir+json"}
    good = {"resourceType": "Appointment", "id": "ap1", "status": "booked", "participant": []}
    assert http("PUT", url, good, {"Authorization": "Bearer wrong"})[0] == 401
    status, _, body = http("PUT", url, good, bearer)
    assert status == 422 and b"identifier" in body
    assert http("PUT", url, {"resourceType": "Appointment", "status": "nonsense"}, bearer)[0] == 422
    assert standards.receiver.items() == []
