"""The CloudFormation template as the local stand-in reads it: its Resources, and the intrinsics
(Ref, GetAtt, Sub, Join) resolved against what was created locally, so local and AWS share one
definition of the table and the queues (`infra/resources.yaml`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEAD_LETTER_QUEUE_RESOURCE",
    "DEFAULT_TEMPLATE_PATH",
    "QUEUE_RESOURCE",
    "TABLE_RESOURCE",
    "Context",
    "load_resources",
    "resolve",
    "resource_properties",
]

DEFAULT_TEMPLATE_PATH: Path = Path(__file__).resolve().parents[2] / "infra" / "resources.yaml"

# Logical IDs in infra/resources.yaml.
TABLE_RESOURCE = "TimebokTable"
QUEUE_RESOURCE = "EventsQueue"
DEAD_LETTER_QUEUE_RESOURCE = "EventsDeadLetterQueue"


class Context:
    """Values that CloudFormation intrinsics in the template can refer to."""

    def __init__(self, region: str, account_id: Callable[[], str]) -> None:
        self.region = region
        self._account_id = account_id
        # logical ID -> {"Ref": ..., attribute name: ...}
        self.resources: dict[str, dict[str, str]] = {}

    def pseudo(self, name: str) -> str:
        """Resolve an AWS:: pseudo parameter."""
        if name == "AWS::Region":
            return self.region
        if name == "AWS::AccountId":
            return self._account_id()
        if name == "AWS::Partition":
            return "aws"
        if name == "AWS::URLSuffix":
            return "amazonaws.com"
        raise ValueError(f"unsupported pseudo parameter {name!r} in template")

    def ref(self, name: str) -> str:
        """Resolve {"Ref": name}."""
        if name.startswith("AWS::"):
            return self.pseudo(name)
        return self.get_att(name, "Ref")

    def get_att(self, logical_id: str, attribute: str) -> str:
        """Resolve {"Fn::GetAtt": [logical_id, attribute]} for a resource created earlier."""
        try:
            return self.resources[logical_id][attribute]
        except KeyError:
            raise ValueError(
                f"cannot resolve {logical_id}.{attribute}: not created (yet) by create_resources"
            ) from None


def resolve(value: Any, ctx: Context) -> Any:
    """Replace the CloudFormation intrinsics local needs (Ref, GetAtt, Sub, Join)."""
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return ctx.ref(arg)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return ctx.get_att(logical_id, attribute)
        if key == "Fn::Sub":
            return _sub(arg, ctx)
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(p) for p in resolve(parts, ctx))
        if key.startswith("Fn::") or key == "Condition":
            raise ValueError(f"unsupported intrinsic {key!r} in template")
    return {k: resolve(v, ctx) for k, v in value.items()}


def _sub(arg: str | list[Any], ctx: Context) -> str:
    """Fn::Sub, string or [string, {var: value}] form."""
    template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1], ctx))
    out: list[str] = []
    pos = 0
    while (start := template.find("${", pos)) != -1:
        end = template.index("}", start)
        out.append(template[pos:start])
        name = template[start + 2 : end]
        if name.startswith("!"):  # ${!Literal} -> ${Literal}
            out.append("${" + name[1:] + "}")
        elif name in variables:
            out.append(str(variables[name]))
        elif "." in name and not name.startswith("AWS::"):
            out.append(ctx.get_att(*name.split(".", 1)))
        else:
            out.append(ctx.ref(name))
        pos = end + 1
    out.append(template[pos:])
    return "".join(out)


def load_resources(template_path: Path) -> dict[str, dict[str, Any]]:
    """Read the template's Resources section (plain YAML, long-form intrinsics); a deep copy of
    one parse per file, since every test's fresh moto world creates the resources again."""
    return copy.deepcopy(_parsed_resources(template_path, template_path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _parsed_resources(template_path: Path, _mtime_ns: int) -> dict[str, dict[str, Any]]:
    with template_path.open(encoding="utf-8") as fh:
        template = yaml.safe_load(fh)
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        raise ValueError(f"{template_path}: no Resources section")
    return resources


def resource_properties(resources: Mapping[str, dict[str, Any]], logical_id: str, resource_type: str) -> dict[str, Any]:
    """Properties of one resource, checking it exists with the expected type."""
    resource = resources.get(logical_id)
    if resource is None:
        raise ValueError(f"resource {logical_id!r} missing from template")
    if resource.get("Type") != resource_type:
        raise ValueError(f"resource {logical_id!r} is {resource.get('Type')!r}, not {resource_type}")
    return dict(resource.get("Properties") or {})
