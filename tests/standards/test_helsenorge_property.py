"""Property: whatever changes, outages and redeliveries happen, Helsenorge ends with the newest state.

For random sequences of confirm, cancel, reschedule, sends with the receiver up or down, and an
old message delivered again, the versions Helsenorge receives for an appointment never decrease,
and once the queue is drained it holds exactly the resource `GET /appointments/{id}/fhir` answers.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import KORONATEST_ANSWERS, REGION, Citizen
from tests.helpers import book_body, free_slots, relay_stream
from tests.standards.conftest import Standards

OPERATIONS = ("confirm", "cancel", "reschedule", "send", "send_while_down", "redeliver_first")
_people = itertools.count(300)


@settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=7))
def test_helsenorge_ends_with_the_newest_state_and_never_goes_back(
    standards: Standards, demo: Any, client: Any, staff_token: str, operations: list[str]
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue = standards.resources["helsenorge_queue_url"]
    person = Citizen(next(_people))
    slots = [s for day in _days(client, demo.koronatest_id) for s in free_slots(client, demo.koronatest_id, day)]
    booked = client.post(
        "/appointments", book_body(person.phone, KORONATEST_ANSWERS, slot_id=slots[0]["id"]), token=person.token
    )
    assert booked.status == 201, booked
    appointment_id = booked.json["id"]
    relay_stream()
    (first,) = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"]
    for step, operation in enumerate(operations):
        if operation == "confirm":
            client.post(f"/admin/appointments/{appointment_id}/confirm", {}, token=staff_token)  # 409 if not requested
        elif operation == "cancel":
            client.post(f"/appointments/{appointment_id}/cancel", {}, token=person.token)
        elif operation == "reschedule":
            target = slots[1 + step % (len(slots) - 1)]["id"]
            client.post(f"/appointments/{appointment_id}/reschedule", {"slot_id": target}, token=person.token)
        elif operation == "send":
            standards.send_to_helsenorge()
        elif operation == "send_while_down":
            standards.receiver.down = True
            standards.send_to_helsenorge(rounds=1)
            standards.receiver.down = False
        else:
            sqs.send_message(
                QueueUrl=queue,
                MessageBody=first["Body"],
                MessageGroupId=appointment_id,
                MessageDeduplicationId=f"again-{appointment_id}-{step}",
            )
    for _ in range(10):
        standards.send_to_helsenorge()
        if standards.queued() == 0:
            break
    assert standards.queued() == 0
    versions = [v for a, v, _ in standards.receiver.received if a == appointment_id]
    assert versions == sorted(versions), versions
    current = client.get(f"/appointments/{appointment_id}/fhir", token=person.token).json
    assert standards.receiver.newest[appointment_id] == current


def _days(client: Any, timebook_id: str) -> list[str]:
    from tests.helpers import free_days

    return [d["date"] for d in free_days(client, timebook_id)][1:3]  # not today: its times may begin
