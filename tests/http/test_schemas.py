"""The request and response models (chalicelib/http/schemas/) and the commands (chalicelib/booking/
commands/) live in one module per area, each imported on first use: every name is found where
`AREAS` says, every model a module defines is listed there, and a booking loads only its own area."""

from __future__ import annotations

import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from chalicelib.booking import commands
from chalicelib.http import schemas

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [schemas, commands]


def _defined_here(module: ModuleType) -> set[str]:
    """The models (pydantic or dataclass) a submodule defines itself, not those it imports."""
    return {
        name
        for name, value in vars(module).items()
        if isinstance(value, type)
        and (issubclass(value, BaseModel) or dataclasses.is_dataclass(value))
        and value.__module__ == module.__name__
    }


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_name_is_found_in_its_area_and_every_model_is_listed(package: ModuleType) -> None:
    for area, names in package.AREAS.items():
        module = importlib.import_module(f"{package.__name__}.{area}")
        for name in names:
            assert getattr(package, name) is getattr(module, name), (area, name)
        assert _defined_here(module) <= set(names), f"{module.__name__}: not listed in AREAS"
    assert sorted(package.__all__) == sorted(n for names in package.AREAS.values() for n in names)
    assert set(package.__all__) <= set(dir(package))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_an_unknown_name_is_an_attribute_error(package: ModuleType) -> None:
    with pytest.raises(AttributeError, match="NoSuchModel"):
        package.NoSuchModel  # noqa: B018
    with pytest.raises(ImportError):
        exec(f"from {package.__name__} import NoSuchModel")


def test_a_booking_loads_only_the_citizens_models_and_commands() -> None:
    """In a fresh interpreter (this one has imported every area): the models and commands of
    POST /holds and POST /appointments, and nothing of the staff set-up."""
    code = (
        "import json, sys\n"
        "from chalicelib.http import schemas\n"
        "from chalicelib.booking.commands import BookAppointment, TakeHold\n"
        "schemas.HoldIn, schemas.HoldOut, schemas.AppointmentIn, schemas.AppointmentOut\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('chalicelib.http.schemas', "
        "'chalicelib.booking.commands')))))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [
        "chalicelib.booking.commands",
        "chalicelib.booking.commands.citizen",
        "chalicelib.http.schemas",
        "chalicelib.http.schemas.citizen",
        "chalicelib.http.schemas.common",
    ]
