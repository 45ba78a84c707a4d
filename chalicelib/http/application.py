"""The Chalice app object, with the request it is answering kept per thread.

Chalice keeps `current_request` (and `lambda_context`) on the app object. Lambda gives a process
one request at a time, so that is enough there; but `make run` and the race tests serve
requests on many threads through one app (chalicelib/local/gateway.py), and a view that reads
`app.current_request` could get another thread's request, and so another citizen's token
(seen as a rare 404 `hold_not_found` in a crowd: the hold was checked against the wrong
person). Per thread, each view sees its own request, as in Lambda.
"""

from __future__ import annotations

import threading
from typing import Any

from chalice import Chalice


class TimebokApp(Chalice):
    def _mine(self) -> threading.local:
        # Set lazily: Chalice.__init__ assigns current_request before a subclass's own __init__ could run.
        return self.__dict__.setdefault("_per_thread", threading.local())

    @property  # type: ignore[override]
    def current_request(self) -> Any:
        return getattr(self._mine(), "request", None)

    @current_request.setter
    def current_request(self, value: Any) -> None:
        self._mine().request = value

    @property  # type: ignore[override]
    def lambda_context(self) -> Any:
        return getattr(self._mine(), "context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._mine().context = value
