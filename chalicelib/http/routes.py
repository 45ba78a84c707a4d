"""One declaration per route: Chalice registers it, and the OpenAPI document (openapi.py) is built
from the same record, so a route cannot be served undocumented or documented unserved.

app.py writes `@route(method, path, tag, ok=..., params=..., errors=...)` above each view, in the
manner of Powertools' event handler (`@app.get(...)`): the tag also says who may call (`citizen`
and `staff` need a token), `ok` what a success answers, `params` the query and header parameters
it reads (parameters.py), `errors` the statuses of API.md it can give beyond those every route
can. The view's docstring is the summary (first paragraph) and the description (the rest). A
`body` argument of the view is the request body, parsed and validated against the model its
annotation names before the view runs. A view that reads its body itself, in more than one type
(`content_types`), names its JSON model with `body_model`, so the document shows every type.

Nothing here imports a pydantic model: model names are resolved when the document is built or a
body first arrives, so a cold start pays for neither (scripts/import_ratio.py).
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any, Literal

from chalice.app import Chalice, ChaliceAuthorizer, Response

from chalicelib.http.handlers import handled
from chalicelib.http.parameters import CURSOR, Param
from chalicelib.http.requests import parse_body

Tag = Literal["public", "citizen", "staff", "local"]
SIGNED_IN_TAGS = ("citizen", "staff")
View = Callable[..., Response]

# Answers that are not a model of schemas/: `text/calendar`, nothing (204), the OpenAPI document,
# a FHIR resource, a redirect (the SMART manifest) or free JSON (local stand-ins).
KINDS = frozenset({"ics", "empty", "openapi", "fhir", "redirect", "json"})


class Items:
    """A list answer: `{"items": [...]}` of this model of schemas/ (with `next_cursor` when paged)."""

    __slots__ = ("csv", "model")

    def __init__(self, model: str, csv: bool = False) -> None:
        self.model = model
        self.csv = csv  # also as `text/csv` (UTF-8 with BOM) when asked with `Accept: text/csv`


# What a success answers: a model of schemas/ by name, a list of one, or one of KINDS.
Answer = str | Items


class Route:
    """Everything said about one route; Chalice and the document both read it."""

    # A plain class, not a dataclass: a dataclass costs a millisecond of every cold start to create.
    __slots__ = (
        "also",
        "body_name",
        "content_types",
        "errors",
        "method",
        "ok",
        "params",
        "path",
        "status",
        "tag",
        "view",
    )

    def __init__(
        self,
        method: str,
        path: str,
        tag: Tag,
        view: View,
        ok: Answer,
        status: int = 200,
        params: tuple[Param, ...] = (),
        errors: tuple[int, ...] = (),
        also: dict[int, str] | None = None,
        content_types: tuple[str, ...] = (),
        body_model: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.tag = tag
        self.view = view
        self.ok = ok
        self.status = status
        self.params = params
        self.errors = errors
        self.also = also or {}  # further successes: status -> description
        self.content_types = content_types or ("application/json",)  # the request bodies it takes
        self.body_name = body_model  # the JSON model of a body the view reads itself

    def __repr__(self) -> str:
        return f"<route {self.method} {self.path}>"

    @property
    def operation_id(self) -> str:
        first, *rest = self.view.__name__.split("_")
        return first + "".join(word.capitalize() for word in rest)

    @property
    def summary(self) -> str:
        paragraphs = _paragraphs(self.view)
        return paragraphs[0] if paragraphs else self.operation_id

    @property
    def description(self) -> str:
        return " ".join(_paragraphs(self.view)[1:])

    @property
    def signed_in(self) -> bool:
        return self.tag in SIGNED_IN_TAGS

    @property
    def paged(self) -> bool:
        """A list read page by page answers `next_cursor` (API.md: paging)."""
        return CURSOR in self.params

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def takes_body(self) -> bool:
        code = self.view.__code__  # the argument names, without inspect.signature's cost at import
        return "body" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]

    def body_model(self) -> Any:
        """The request model the view's `body` annotation names (imported now), or None (a view
        that reads its body itself names its model in `body_name`: openapi.py resolves it)."""
        return _body_model(self.view) if self.takes_body else None


def _paragraphs(view: View) -> list[str]:
    text = inspect.cleandoc(view.__doc__ or "")
    return [" ".join(part.split()) for part in text.split("\n\n") if part.strip()]


@functools.cache
def _body_model(view: View) -> Any:
    return typing.get_type_hints(view)["body"]


class Routes:
    """The app's routes as declared: `route` registers a view with Chalice and keeps its record."""

    def __init__(self, app: Chalice, authorizer: ChaliceAuthorizer) -> None:
        self.app = app
        self.authorizer = authorizer
        self.declared: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        tag: Tag,
        *,
        ok: Answer,
        status: int = 200,
        params: tuple[Param, ...] = (),
        errors: tuple[int, ...] = (),
        also: dict[int, str] | None = None,
        content_types: tuple[str, ...] = (),
        body_model: str | None = None,
    ) -> Callable[[View], View]:
        def register(view: View) -> View:
            declared = Route(method, path, tag, view, ok, status, params, errors, also, content_types, body_model)
            self.declared.append(declared)
            endpoint = handled(self._with_body(view) if declared.takes_body else view)
            authorizer = self.authorizer if declared.signed_in else None
            accepts = {"content_types": list(content_types)} if content_types else {}  # else Chalice's JSON only
            return self.app.route(path, methods=[method], authorizer=authorizer, **accepts)(endpoint)

        return register

    def _with_body(self, view: View) -> View:
        @functools.wraps(view)
        def parsing(*args: Any, **kwargs: Any) -> Response:
            body = parse_body(self.app.current_request, _body_model(view))
            return view(*args, **kwargs, body=body)

        return parsing
