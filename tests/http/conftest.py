"""What the API test modules share: one seeded world on moto, and one way to prove a refused
request (or a read) wrote nothing to the table.

`seeded_world()` is tests/conftest.py's `aws` + `demo` + a client and the demo staff token, made
once for a module or class (seeding costs about a second). `TableWatch` counts every write call
that reaches moto's DynamoDB and compares the table's items before and after; `unchanged()` is
the check each module used to write for itself.
"""

from __future__ import annotations

import contextlib
import json
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import demo_staff_token, moto_aws, moto_table, seed_demo


@dataclass
class TableWatch:
    """moto's Timebok table, watched: write calls counted, items compared."""

    write_calls: int = 0  # put/update/delete calls that reached moto (transactions and batches too)
    _state: bytes = b""
    _state_at: int = -1

    def install(self, patch: pytest.MonkeyPatch) -> None:
        from moto.dynamodb.models import DynamoDBBackend

        for name in ("put_item", "update_item", "delete_item"):
            patch.setattr(DynamoDBBackend, name, self._counting(getattr(DynamoDBBackend, name)))

    def _counting(self, write: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.write_calls += 1
            return write(*args, **kwargs)

        return counted

    def state(self) -> bytes:
        """Every item, straight from moto's memory, pickled (a Scan per test is slow); recomputed
        only after a write call."""
        if self._state_at != self.write_calls:
            table = moto_table()
            # Reads of a missing key leave an empty partition behind in moto's defaultdict: not a write.
            self._state = pickle.dumps({key: dict(items) for key, items in table.items.items() if items})
            self._state_at = self.write_calls
        return self._state

    @staticmethod
    def changed_items(before: bytes, after: bytes) -> list[str]:
        def flat(state: bytes) -> set[str]:
            # Availability summaries are a cache a read may recount (docs/capacity.md): not a write.
            return {
                text
                for items in pickle.loads(state).values()
                for item in items.values()
                if "#AV#" not in (text := json.dumps(item.to_json(), sort_keys=True))
            }

        old, new = flat(before), flat(after)
        return sorted(f"- {i[:300]}" for i in old - new) + sorted(f"+ {i[:300]}" for i in new - old)

    @contextlib.contextmanager
    def unchanged(self, what: str = "a refused request") -> Iterator[None]:
        """Fails if any item of the table differs afterwards."""
        before, calls = self.state(), self.write_calls
        yield
        if self.write_calls == calls:
            return  # no put, update or delete reached the table at all
        after = self.state()
        # Equal bytes: nothing changed. Different bytes may still be the same items (moto rebuilds its
        # dicts when it rolls a failed transaction back), so compare the items themselves then.
        if after != before and (changes := self.changed_items(before, after)):
            pytest.fail(f"{what} wrote to the table:\n" + "\n".join(changes), pytrace=False)


@dataclass
class SeededWorld:
    client: Any
    demo: Any
    staff_token: str
    resources: dict[str, str]
    watch: TableWatch = field(default_factory=TableWatch)


@contextlib.contextmanager
def seeded_world(weeks: int = 2) -> Iterator[SeededWorld]:
    """moto with the demo data, the app behind the local gateway, and a TableWatch; for a module or
    class-scoped fixture that builds its own world on it."""
    from app import app
    from chalicelib.local.gateway import Client

    with moto_aws() as resources, pytest.MonkeyPatch.context() as patch:
        client = Client(app)
        demo = seed_demo(weeks=weeks)
        world = SeededWorld(client, demo, demo_staff_token(), resources)
        world.watch.install(patch)
        yield world


def deliver_inbox_messages() -> None:
    """What the stream relay and the SQS consumer do in AWS: committed events become inbox messages."""
    from tests.helpers import deliver_events

    deliver_events()
