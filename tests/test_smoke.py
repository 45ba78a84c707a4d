from tests.conftest import KORONATEST_ANSWERS


def test_walk_steps_one_to_five(client, demo, citizen):
    contacts = client.get("/health-contacts").json["items"]
    assert {c["name"] for c in contacts} == {"Helsenorge Kommune Smittevern", "Helsenorge Kommune Legevakt"}
    smittevern = next(c for c in contacts if c["service"] == "Smittevern")
    books = client.get(f"/health-contacts/{smittevern['id']}/timebooks").json["items"]
    koronatest = next(b for b in books if b["type"] == "koronatest")
    detail = client.get(f"/timebooks/{koronatest['id']}").json
    assert len(detail["form"]["questions"]) == 4
    assert detail["locations"][0]["address"] == "Gaten 1, 0271 Oslo"
    from chalicelib import clock

    month = clock.local(clock.now()).strftime("%Y-%m")
    cal = client.get(f"/timebooks/{koronatest['id']}/calendar?month={month}").json
    free_days = [d for d in cal["days"] if d["free"] > 0]
    if not free_days:  # end of month: look at the next one
        import datetime

        nxt = (clock.local(clock.now()).replace(day=28) + datetime.timedelta(days=5)).strftime("%Y-%m")
        cal = client.get(f"/timebooks/{koronatest['id']}/calendar?month={nxt}").json
        free_days = [d for d in cal["days"] if d["free"] > 0]
    day = free_days[0]["date"]
    slots = client.get(f"/timebooks/{koronatest['id']}/slots?date={day}").json["items"]
    assert slots and all(s["free"] >= 1 for s in slots)
    hold = client.post("/holds", {"slot_id": slots[0]["id"]}, token=citizen.token)
    assert hold.status == 201, hold
    appointment = client.post(
        "/appointments",
        {"hold_id": hold.json["id"], "answers": KORONATEST_ANSWERS, "phone": citizen.phone, "description": "Hoste"},
        token=citizen.token,
    )
    assert appointment.status == 201, appointment
    assert appointment.json["status"] == "requested"
    mine = client.get("/appointments", token=citizen.token).json["items"]
    assert [a["id"] for a in mine] == [appointment.json["id"]]
