"""Test set-up: moto as AWS (no network, no account), the app through the local gateway."""

from __future__ import annotations

import contextlib
import copyreg
import io
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The local stage's environment, before anything imports the app or the models.
_CONFIG = json.loads((Path(__file__).parent.parent / ".chalice" / "config.json").read_text())
os.environ.update(_CONFIG["stages"]["local"]["environment_variables"])
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-north-1",
        "AWS_REGION": "eu-north-1",
        # Availability summaries recounted on every read: tests see each change at once
        # (tests/booking/test_availability_summaries.py covers the stated staleness).
        "AVAILABILITY_STALENESS_SECONDS": "0",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

import hypothesis  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib import clock, settings  # noqa: E402
from chalicelib.local import moto_patches  # noqa: E402
from chalicelib.local.standin import create_resources  # noqa: E402
from tests.factories import make_phone, make_pid  # noqa: E402

moto_patches.install()


def _share_botocore_models() -> None:
    """botocore parses its JSON models (endpoints, dynamodb, sqs, ...) once per session, and the
    suite builds hundreds of sessions (every moto_aws() and settings.reset() makes fresh clients):
    a stateful test spent half its time re-reading them. Parsed files are shared by the whole
    process here, as one session's clients already share them."""
    import functools

    from botocore.loaders import JSONFileLoader, Loader

    load_file = JSONFileLoader.load_file
    shared = functools.lru_cache(maxsize=None)(lambda file_path: load_file(JSONFileLoader(), file_path))
    JSONFileLoader.load_file = lambda self, file_path: shared(file_path)  # type: ignore[method-assign]
    listed = Loader.list_available_services  # lists botocore's data directories on every new session
    services: dict[tuple[tuple[str, ...], str], Any] = {}

    def list_available_services(self: Loader, type_name: str) -> Any:
        key = (tuple(self.search_paths), type_name)
        if key not in services:
            services[key] = listed(self, type_name)
        return services[key]

    Loader.list_available_services = list_available_services  # type: ignore[method-assign]


_share_botocore_models()

# Property tests judge what the code does, not how fast a loaded machine runs it (make test-stress):
# no per-example deadline and no "too slow to generate" check.
hypothesis.settings.register_profile("timebok", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("timebok")

REGION = "eu-north-1"
QUEUE = "timebok-test-events.fifo"
DLQ = "timebok-test-events-dlq.fifo"


# ---- tiers: `make test-fast` runs `-m fast` ------------------------------------------------------
# Unit tests of the rules (tests/domain/) and use-case tests on the shared moto fixture
# (tests/booking/, tests/storage/) are the fast tier, except what is slow (the stateful property
# tests, the staff index's paging property, crowds of threads).
# The Makefile collects only those directories (collecting the rest imports schemathesis, cfn-lint...).
FAST_DIRECTORIES = ("domain", "storage", "booking")
# hypothesis runs many whole histories: minutes
SLOW_MODULES = ("test_invariant_stateful.py", "test_waitlist_stateful.py")
SLOW_TESTS = (
    "test_first_available_spreads_over_early_places",  # a crowd of 30 holds
    "test_a_script_with_one_token_holds_at_most_one_place",  # 16 threads, 30 holds
    "test_paging_the_merged_shards_gives_each_appointment_once_in_order",  # a fresh table per example
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        if item.path.name in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        elif parts and parts[0] in FAST_DIRECTORIES and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.fast)


@pytest.fixture(autouse=True)
def _stopped_monotonic_clock() -> Iterator[None]:
    """Durations (the request budget, caches, memos) move only when a test moves the clock: a
    busy machine cannot make a request run out of budget or a cache lapse mid-test."""
    clock.stop_monotonic()
    yield
    clock.reset()


class _SettingsMonkeyPatch(pytest.MonkeyPatch):
    """pytest's monkeypatch; a change to the environment re-reads the settings (keeping the warm
    caches, as when code read the variable itself), and its undo resets settings and caches."""

    _environment_changed = False

    def setenv(self, name: str, value: str, prepend: str | None = None) -> None:
        super().setenv(name, value, prepend)
        self._environment_changed = True
        settings.reset(caches=False)

    def delenv(self, name: str, raising: bool = True) -> None:
        super().delenv(name, raising)
        self._environment_changed = True
        settings.reset(caches=False)

    def undo(self) -> None:
        super().undo()
        if self._environment_changed:
            self._environment_changed = False
            settings.reset()  # the test is over: nothing it configured stays cached


# ---- the storage behind the use cases: moto, or the in-memory repository (tests/fakes/) -------------
# "moto" unless a directory's conftest says otherwise (tests/booking/conftest.py: "memory" but for
# tests marked `moto`). Either way moto runs for SQS and S3 (the `aws` fixture).


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--storage",
        choices=("memory", "moto"),
        default="memory",
        help="where the use-case tests of tests/booking/ store: the in-memory fake (default) or moto",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "moto: stays on moto's DynamoDB where the use-case tier runs on the in-memory fake"
    )


@pytest.fixture
def storage_backend() -> str:
    """Which storage the use cases reach in this test: "moto" or "memory"."""
    return "moto"


_memory: Any = None  # the fake installed for the running test, if any


@pytest.fixture
def memory_repository(storage_backend: str) -> Iterator[Any]:
    """The in-memory repository installed behind the storage seam (None on moto). Set up before
    `monkeypatch` (which asks for it), so a test's own patches of seam names are undone first."""
    global _memory
    if storage_backend != "memory":
        yield None
        return
    from tests.fakes.memory import MemoryRepository

    fake, patch = MemoryRepository(), pytest.MonkeyPatch()
    fake.install(patch)
    _memory = fake
    try:
        yield fake
    finally:
        _memory = None
        patch.undo()


@pytest.fixture
def monkeypatch(memory_repository: Any) -> Iterator[pytest.MonkeyPatch]:
    """Code reads `settings.get()`, read once: a test that sets a variable sees it at once."""
    patch = _SettingsMonkeyPatch()
    yield patch
    patch.undo()


@contextlib.contextmanager
def moto_aws() -> Iterator[dict[str, str]]:
    """moto as AWS with Timebok's table and queues (from infra/resources.yaml); a clean clock and
    fresh settings and caches (`settings.reset()`) before and after. Yields the resource names."""
    with mock_aws():
        resources = create_resources(None, REGION, os.environ["TABLE_NAME"], QUEUE, DLQ)  # type: ignore[arg-type]
        os.environ["EVENTS_QUEUE_URL"] = resources["queue_url"]
        settings.reset()
        try:
            yield resources
        finally:
            settings.reset()
    clock.reset()


def moto_table() -> Any:
    """moto's own Table object behind Timebok's table: tests look at it to prove nothing was written."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(os.environ["TABLE_NAME"])


@pytest.fixture
def aws(memory_repository: Any) -> Iterator[dict[str, str]]:
    with moto_aws() as resources:
        yield resources


@pytest.fixture
def client(aws: dict[str, str]) -> Any:
    from app import app
    from chalicelib.local.gateway import Client

    return Client(app)


def token_for(sub: str, role: str = "citizen", name: str = "Test Person", **claims: Any) -> str:
    from chalicelib.http.tokens import issue_token

    return issue_token({"sub": sub, "role": role, "name": name, **claims}, os.environ["TOKEN_SECRET"])


_seeded: dict[tuple[int, str], tuple[bytes, Any]] = {}
_seeded_memory: dict[tuple[str, int, str], tuple[Any, Any]] = {}


def _limited_size_dict(data: dict[str, Any]) -> Any:
    """moto's item attributes, rebuilt without their per-key size check: unpickling called it for
    every attribute, adding up the whole item each time (a fifth of a second per test world)."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    rebuilt = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(rebuilt, data)  # dict's own update: the items were checked when first written
    return rebuilt


def _snapshot(items: Any) -> bytes:
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, LimitedSizeDict: lambda d: (_limited_size_dict, (dict(d),))}
    pickler.dump(items)
    return buffer.getvalue()


def seed_demo(weeks: int = 2) -> Any:
    """The guide's demo data in moto's (empty) table: seeded once per session and day, then put back
    from a snapshot of moto's items (seeding through the use cases costs a second of CPU a test)."""
    from chalicelib.local import demo as demo_data

    if _memory is not None:  # the in-memory repository: a copy of its whole state
        key = ("memory", weeks, clock.local(clock.now()).date().isoformat())
        if key in _seeded_memory:
            state, seeded = _seeded_memory[key]
            _memory.restore(state)
            return seeded
        seeded = demo_data.seed(weeks=weeks)
        _seeded_memory[key] = (_memory.snapshot(), seeded)
        return seeded
    table = moto_table()
    key = (weeks, clock.local(clock.now()).date().isoformat())
    if key in _seeded and not any(table.items.values()):
        snapshot, seeded = _seeded[key]
        table.items = pickle.loads(snapshot)
        return seeded
    seeded = demo_data.seed(weeks=weeks)
    _seeded[key] = (_snapshot(table.items), seeded)
    return seeded


@pytest.fixture
def demo(aws: dict[str, str]) -> Any:
    return seed_demo(weeks=2)


def demo_staff_token() -> str:
    """The demo municipality's staff member, administering both of its health contacts."""
    from chalicelib.local.demo import DEMO_STAFF_PID, LEGEVAKT_HER_ID, SMITTEVERN_HER_ID

    return token_for(DEMO_STAFF_PID, "staff", "Sara Saksbehandler", orgs=[SMITTEVERN_HER_ID, LEGEVAKT_HER_ID])


@pytest.fixture
def staff_token() -> str:
    return demo_staff_token()


class Citizen:
    """A test citizen: a valid synthetic identity number, a phone and a token."""

    def __init__(self, n: int, **claims: Any) -> None:
        self.pid = make_pid(n)
        self.phone = make_phone(n)
        self.name = f"Innbygger {n}"
        self.token = token_for(self.pid, "citizen", self.name, **claims)


@pytest.fixture
def citizen() -> Citizen:
    return Citizen(1)


@pytest.fixture
def other_citizen() -> Citizen:
    return Citizen(2)


KORONATEST_ANSWERS = {"symptomer": "ja", "naerkontakt": "nei", "utlandet": False, "helsepersonell": "Nei"}
