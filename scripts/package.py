"""`make package`: the deployable SAM template and Lambda zip in build/STAGE/, exactly as deployed.

1. Merge infra/resources.yaml (the stateful resources, also read by the local stand-in) and
   infra/stack.yaml (parameters, overrides, logs, alarms, outputs) into one template.
2. `chalice package --stage STAGE --pkg-format cloudformation --merge-template <it>`: Chalice's
   SAM output (functions, API, roles from infra/policies/) with our template merged in.
3. Trim the zip of data the code never loads (PRUNED below), add the bytecode of every module
   (Lambda cannot write it: without it every cold start compiles everything), and prove the
   trimmed zip still imports and runs what it needs from that bytecode, in a Lambda-like path
   (the zip first, then only the SDK the Lambda runtime provides).
4. Check the template's wiring (`check_template`, `check_runtime`) and the size (< 75 MB unzipped).

Needs no AWS account or credentials; `chalice package` downloads the Linux wheels of
requirements.txt from PyPI (cached under .chalice/deployments/ after the first run).
`--template-only` packages a copy of the project with no requirements: the same template,
offline, in a few seconds (the tests use it). Decisions: docs/decisions.md, "Infrastructure".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
RESOURCES = INFRA / "resources.yaml"
STACK = INFRA / "stack.yaml"
BUILD = ROOT / "build"
TEMPLATE_NAME = "sam.json"
ZIP_NAME = "deployment.zip"
DEFAULT_REGION = "eu-north-1"  # chalice package wants a region; nothing is called in it
# Our own budget (Lambda allows 250 MB unzipped): 50 MB of source and data, plus its bytecode
# (about 40% of the source; docs/decisions.md, "Bytecode in the zip").
MAX_UNZIPPED_BYTES = 75 * 1000 * 1000

# What the project copy for --template-only needs (chalice reads app.py, chalicelib/, .chalice/).
PROJECT_FILES = ("app.py", "chalicelib", ".chalice/config.json", "infra")

# AWS services the code calls (PynamoDB: dynamodb; the publishers: sqs; the feed: s3). botocore's models of
# all other services (19 MB of the 21 MB of botocore) are left out of the zip.
BOTOCORE_SERVICES = ("dynamodb", "sqs", "s3", "sns", "ssm", "secretsmanager")  # sns: SMS; ssm, secretsmanager: keys
# Data the code never loads: phonenumbers' geocoder, carrier and timezone tables (20 MB);
# chalicelib/domain/identity.py only parses, validates and formats numbers. And the local stand-in
# and runner, which only `make run` and the tests use (they import moto, which Lambda has not).
PRUNED_PREFIXES = (
    "phonenumbers/geodata/",
    "phonenumbers/carrierdata/",
    "phonenumbers/tzdata/",
    "chalicelib/local/",
    "chalicelib/messaging/local_consumer.py",
)
# What the Lambda Python runtime provides besides the zip (the smoke test puts only these on
# the path after the zip, so a module missing from the zip fails here, not in AWS).
RUNTIME_PROVIDED = ("boto3", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


class PackageError(Exception):
    """The package cannot be built or is not what we deploy."""


# ---- 1. the merge template ------------------------------------------------------------------


def deep_merge(base: Any, override: Any) -> Any:
    """What `chalice package --merge-template` does: mappings merge key by key, anything else
    (a list, a scalar) replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value)
        return merged
    return override


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        loaded = yaml.safe_load(fh)
    if not isinstance(loaded, dict):
        raise PackageError(f"{path.relative_to(ROOT)}: not a template")
    return loaded


def merge_template(resources_path: Path = RESOURCES, stack_path: Path = STACK) -> dict[str, Any]:
    """resources.yaml with stack.yaml merged over it; stack.yaml may add properties to the
    stateful resources but not change what they are."""
    resources, stack = load_yaml(resources_path), load_yaml(stack_path)
    for logical_id, override in stack.get("Resources", {}).items():
        base = resources.get("Resources", {}).get(logical_id)
        if base is not None and "Type" in override and override["Type"] != base["Type"]:
            raise PackageError(f"infra/stack.yaml changes the type of {logical_id}")
    return deep_merge(resources, stack)


# ---- 2. chalice package ---------------------------------------------------------------------


def packaging_environment(stage: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The shell's environment without any variable a stage of .chalice/config.json sets, plus the
    packaged stage's own: `chalice package` imports app.py, and what app.py sees decides what is
    deployed (DEV_TOKENS=enabled, set for the local stage and the tests, would add /dev/token)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    stages = config.get("stages", {})
    named = set(config.get("environment_variables", {}))
    for settings in stages.values():
        named |= set(settings.get("environment_variables", {}))
    env = {k: v for k, v in environ.items() if k not in named}
    env.update(config.get("environment_variables", {}))
    env.update(stages[stage].get("environment_variables", {}))
    env.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
    return env


def chalice_package(project: Path, stage: str, merge_file: Path, out: Path) -> None:
    chalice = Path(sys.executable).with_name("chalice")
    command = [
        str(chalice if chalice.exists() else "chalice"),
        "package",
        "--stage",
        stage,
        "--pkg-format",
        "cloudformation",
        "--template-format",
        "json",
        "--merge-template",
        str(merge_file),
        str(out),
    ]
    env = packaging_environment(stage)
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(f"chalice package failed:\n{result.stdout}{result.stderr}")


def template_only_project(workdir: Path) -> Path:
    """A copy of the project whose requirements.txt is empty: chalice packages it offline."""
    project = workdir / "project"
    for name in PROJECT_FILES:
        source, target = ROOT / name, project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    (project / "requirements.txt").write_text("", encoding="utf-8")
    return project


# ---- 3. the zip -----------------------------------------------------------------------------


def is_pruned(name: str) -> bool:
    if name.startswith(PRUNED_PREFIXES) or "/__pycache__/" in f"/{name}":
        return True  # (bytecode of the working tree, compiled for another path)
    parts = name.split("/")
    # botocore/data/<service>/...: keep the services we call and the shared files (endpoints...).
    return len(parts) > 3 and parts[:2] == ["botocore", "data"] and parts[2] not in BOTOCORE_SERVICES


def prune_zip(path: Path) -> tuple[int, int]:
    """Rewrite the zip without the pruned entries; returns (entries kept, entries dropped)."""
    trimmed = path.with_suffix(".trimmed.zip")
    kept = dropped = 0
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(trimmed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if is_pruned(info.filename):
                dropped += 1
                continue
            target.writestr(info, source.read(info), compress_type=zipfile.ZIP_DEFLATED)
            kept += 1
    trimmed.replace(path)
    return kept, dropped


def python_runtime(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> str:
    """The Lambda runtime name of a Python version ("python3.11")."""
    return f"python{version[0]}.{version[1]}"


def check_runtime(template: Mapping[str, Any], packaging_runtime: str | None = None) -> list[str]:
    """Bytecode is only read by the minor version that wrote it: every function's runtime must
    be the packaging interpreter's, or the zip's .pyc would be ignored and every module compiled
    again at each cold start."""
    packaging_runtime = packaging_runtime or python_runtime()
    return [
        f"{name}: runtime {runtime}, but the bytecode is compiled by {packaging_runtime} (package with that Python)"
        for name, function in functions_of(template).items()
        if (runtime := function["Properties"].get("Runtime")) != packaging_runtime
    ]


def bytecode_name(source: str) -> str:
    """Where the import system looks for a module's bytecode: pkg/__pycache__/mod.cpython-311.pyc."""
    return Path(importlib.util.cache_from_source(source)).as_posix()


def add_bytecode(path: Path) -> dict[str, int]:
    """Add the bytecode of every .py in the zip, compiled by this interpreter, beside its source.

    Lambda's /var/task is read-only: without it, every module of ours and of the libraries is
    compiled from source at every cold start. UNCHECKED_HASH: the .pyc is used whatever the file
    times in the zip are (the zip is immutable, so nothing can go stale). Files that do not
    compile (py2 or templated files some libraries ship) are skipped and counted; the import
    system would fail on them too. Each .pyc gets its source's entry time, so the same zip in
    gives the same zip out. Returns counts and the size growth."""
    compiled_zip = path.with_suffix(".compiled.zip")
    zipped_before = path.stat().st_size
    compiled = skipped = added_bytes = 0
    with (
        tempfile.TemporaryDirectory(prefix="timebok-pyc-") as tmp,
        zipfile.ZipFile(path) as source,
        zipfile.ZipFile(compiled_zip, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        names = set(source.namelist())
        scratch_source, scratch_pyc = Path(tmp) / "module.py", Path(tmp) / "module.pyc"
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
            if not info.filename.endswith(".py") or bytecode_name(info.filename) in names:
                continue
            scratch_source.write_bytes(data)
            try:
                py_compile.compile(
                    str(scratch_source),
                    cfile=str(scratch_pyc),
                    dfile=info.filename,  # the import system fixes it up to the real path on load
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError:
                skipped += 1
                continue
            bytecode = scratch_pyc.read_bytes()
            pyc_info = zipfile.ZipInfo(bytecode_name(info.filename), date_time=info.date_time)
            pyc_info.external_attr = info.external_attr
            target.writestr(pyc_info, bytecode, compress_type=zipfile.ZIP_DEFLATED)
            compiled += 1
            added_bytes += len(bytecode)
    compiled_zip.replace(path)
    return {
        "compiled": compiled,
        "skipped": skipped,
        "added_unzipped_bytes": added_bytes,
        "zipped_bytes_before": zipped_before,
        "zipped_bytes_after": path.stat().st_size,
    }


def zip_sizes(path: Path) -> dict[str, int]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    return {"zipped_bytes": path.stat().st_size, "unzipped_bytes": sum(i.file_size for i in infos), "files": len(infos)}


# Modules that must come from the zip's bytecode (ours and the heaviest libraries'); and, for any
# module of the zip, the smoke test records every compile from source (there should be none).
FROM_BYTECODE = ("app", "chalicelib.storage.repository", "chalicelib.http.schemas", "pydantic.main", "pynamodb.models")

SMOKE = r"""
import json, os, sys
from importlib.machinery import SourceFileLoader
compiled_from_source = []
_source_to_code = SourceFileLoader.source_to_code
def _recording(self, data, path, *args, **kwargs):
    compiled_from_source.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)
SourceFileLoader.source_to_code = _recording  # called only when there is no usable .pyc
import app
from chalicelib.domain import identity
from chalicelib.http import schemas
from chalicelib.http.tokens import TokenSettings, TokenVerifier, issue_token
from chalicelib.messaging import consumer, relay
from chalicelib.storage import repository
import boto3, botocore, pynamodb, pynamodb.models, pydantic.main
assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__
session = boto3.session.Session(region_name="eu-north-1", aws_access_key_id="x", aws_secret_access_key="x")
for service in json.loads(sys.argv[2]):
    session.client(service)
assert identity.normalize_phone("912 34 567") == "+4791234567"
from chalicelib.messaging.texts import inbox_text  # the text catalogues are in the zip (chalicelib/i18n/)
confirmed = {"start": "2024-03-01T10:00:00+01:00", "timebook_name": "Lab", "language": "nn"}
assert inbox_text("confirmed", confirmed)[0] == "Timen er stadfesta"
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwt.decode(jwt.encode({"a": 1}, key, algorithm="RS256"), key.public_key(), algorithms=["RS256"])
without_bytecode = [
    m for m in json.loads(sys.argv[3])
    if not (sys.modules[m].__spec__.cached and os.path.exists(sys.modules[m].__spec__.cached))
]
print(json.dumps({
    "compiled_from_source": sorted(p for p in compiled_from_source if p.startswith(sys.argv[1])),
    "without_bytecode": without_bytecode,
}))
print("ok")
"""


def lambda_task(zip_path: Path, workdir: Path) -> tuple[Path, dict[str, str]]:
    """The zip extracted as Lambda's /var/task, and an environment whose path is the zip first,
    then only the SDK the Lambda runtime provides (symlinked from this venv). No bytecode is
    written, as on Lambda's read-only file system."""
    import boto3

    task, runtime = workdir / "task", workdir / "runtime"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    runtime.mkdir()
    site = Path(boto3.__file__).resolve().parents[1]
    for name in RUNTIME_PROVIDED:
        for candidate in (site / name, site / f"{name}.py"):
            if candidate.exists() and not (task / candidate.name).exists():
                (runtime / candidate.name).symlink_to(candidate)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{task}{os.pathsep}{runtime}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TOKEN_MODE": "rs256",
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
    }
    return task, env


def smoke_test(zip_path: Path) -> None:
    """Import the app and run the libraries it loads from the trimmed zip, as Lambda would, and
    prove the zip's bytecode is what is loaded (no module of the zip compiled from source)."""
    with tempfile.TemporaryDirectory(prefix="timebok-smoke-") as tmp:
        task, env = lambda_task(zip_path, Path(tmp))
        command = [
            sys.executable,
            "-S",
            "-c",
            SMOKE,
            f"{task}{os.sep}",
            json.dumps(BOTOCORE_SERVICES),
            json.dumps(FROM_BYTECODE),
        ]
        result = subprocess.run(command, cwd=task, env=env, capture_output=True, text=True, check=False)
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or lines[-1:] != ["ok"]:
            raise PackageError(f"the trimmed zip does not run:\n{result.stdout}{result.stderr}")
        found = json.loads(lines[-2])
        if found["without_bytecode"] or found["compiled_from_source"]:
            compiled = [os.path.relpath(p, task) for p in found["compiled_from_source"]]
            raise PackageError(
                "the zip's bytecode is not used (every cold start would compile from source): "
                f"no .pyc for {found['without_bytecode']}; compiled from source: {compiled[:10]}"
                f"{' ...' if len(compiled) > 10 else ''} ({len(compiled)} files)"
            )


# ---- 4. the template's wiring ----------------------------------------------------------------


def functions_of(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == "AWS::Serverless::Function"}


# The queue each SQS-driven function consumes (default: the events queue).
SQS_SOURCES = {"SendToHelsenorge": "HelsenorgeQueue"}


def check_template(template: Mapping[str, Any]) -> list[str]:
    """What must hold for every function Chalice made; an empty list when all is wired."""
    problems: list[str] = []
    resources = template["Resources"]
    for logical_id, resource in resources.items():
        if "Type" not in resource:
            problems.append(f"{logical_id}: in infra/stack.yaml but not made by Chalice (a typo?)")
    for name, function in functions_of(template).items():
        props = function["Properties"]
        variables = props.get("Environment", {}).get("Variables", {})
        if variables.get("TABLE_NAME") != {"Ref": "TimebokTable"}:
            problems.append(f"{name}: TABLE_NAME is not the stack's table")
        if variables.get("EVENTS_QUEUE_URL") != {"Ref": "EventsQueue"}:
            problems.append(f"{name}: EVENTS_QUEUE_URL is not the stack's queue")
        if props.get("FunctionName") != {"Fn::Sub": f"${{AWS::StackName}}-{name}"}:
            problems.append(f"{name}: no FunctionName in infra/stack.yaml")
        if f"{name}LogGroup" not in resources:
            problems.append(f"{name}: no {name}LogGroup in infra/stack.yaml")
        if f"{name}Errors" not in resources:
            problems.append(f"{name}: no {name}Errors alarm in infra/stack.yaml")
        role = props.get("Role")
        if not (isinstance(role, dict) and role.get("Fn::GetAtt", [None])[0] in resources):
            problems.append(f"{name}: its role is not one of the stack's (iam_policy_file missing?)")
        for event_name, event in props.get("Events", {}).items():
            if event.get("Type") == "SQS":
                wiring = event["Properties"]
                queue = SQS_SOURCES.get(name, "EventsQueue")
                if wiring.get("Queue") != {"Fn::Sub": f"${{{queue}.Arn}}"}:
                    problems.append(f"{name}.{event_name}: not wired to {queue}")
                if wiring.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
                    problems.append(f"{name}.{event_name}: no ReportBatchItemFailures")
    return problems


# ---- the whole --------------------------------------------------------------------------------


def deployment_zip(stage: str = "prod") -> Path:
    """Where `make package` writes a stage's Lambda zip (the bench reads it from here)."""
    return BUILD / stage / ZIP_NAME


def package(stage: str = "prod", out: Path | None = None, *, template_only: bool = False) -> dict[str, Any]:
    """Build into `out` (build/STAGE/): sam.json (and deployment.zip unless template_only). Returns a summary."""
    out = out or deployment_zip(stage).parent
    with tempfile.TemporaryDirectory(prefix="timebok-package-") as tmp:
        workdir = Path(tmp)
        merge_file = workdir / "infra-merged.json"
        merge_file.write_text(json.dumps(merge_template(), indent=2), encoding="utf-8")
        project = template_only_project(workdir) if template_only else ROOT
        staged = workdir / "out"
        chalice_package(project, stage, merge_file, staged)
        template = json.loads((staged / TEMPLATE_NAME).read_text(encoding="utf-8"))
        problems = check_template(template) + check_runtime(template)
        if problems:
            raise PackageError("the packaged template is not wired right:\n  " + "\n  ".join(problems))
        summary: dict[str, Any] = {"stage": stage, "template": str(out / TEMPLATE_NAME)}
        out.mkdir(parents=True, exist_ok=True)
        if not template_only:
            before = zip_sizes(staged / ZIP_NAME)
            _kept, dropped = prune_zip(staged / ZIP_NAME)
            bytecode = add_bytecode(staged / ZIP_NAME)
            smoke_test(staged / ZIP_NAME)
            after = zip_sizes(staged / ZIP_NAME)
            if after["unzipped_bytes"] >= MAX_UNZIPPED_BYTES:
                size, limit = after["unzipped_bytes"] / 1e6, MAX_UNZIPPED_BYTES / 1e6
                raise PackageError(f"deployment.zip is {size:.1f} MB unzipped (limit {limit:.0f} MB)")
            shutil.move(staged / ZIP_NAME, out / ZIP_NAME)
            summary.update(
                zip=str(out / ZIP_NAME), before=before, after=after, dropped_files=dropped, bytecode=bytecode
            )
        shutil.move(staged / TEMPLATE_NAME, out / TEMPLATE_NAME)
    return summary


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def bytecode_report(bytecode: Mapping[str, int]) -> str:
    growth = bytecode["zipped_bytes_after"] - bytecode["zipped_bytes_before"]
    return (
        f"bytecode ({python_runtime()}): {bytecode['compiled']} modules compiled, {bytecode['skipped']} that do not "
        f"compile skipped; the zip grew {_mb(growth)} zipped ({_mb(bytecode['zipped_bytes_before'])} -> "
        f"{_mb(bytecode['zipped_bytes_after'])}), {_mb(bytecode['added_unzipped_bytes'])} unzipped"
    )


def _shown(path: str) -> str:
    return os.path.relpath(path, Path.cwd())


def report(summary: Mapping[str, Any]) -> Iterable[str]:
    yield f"stage {summary['stage']}: {_shown(summary['template'])}"
    if "zip" in summary:
        before, after = summary["before"], summary["after"]
        yield (
            f"{_shown(summary['zip'])}: {_mb(after['zipped_bytes'])} zipped, "
            f"{_mb(after['unzipped_bytes'])} unzipped, {after['files']} files "
            f"(chalice made {_mb(before['unzipped_bytes'])} unzipped; "
            f"{summary['dropped_files']} unused files left out)"
        )
        yield bytecode_report(summary["bytecode"])
    yield "deploy: see README.md, 'Deploy to AWS'"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod", choices=("dev", "prod"))
    parser.add_argument("--out", type=Path, help="default build/STAGE/ (dev and prod never overwrite each other)")
    parser.add_argument("--template-only", action="store_true", help="no zip, no downloads (for tests)")
    args = parser.parse_args(argv)
    try:
        out = (args.out or BUILD / args.stage).resolve()
        summary = package(args.stage, out, template_only=args.template_only)
    except PackageError as error:
        print(f"make package: {error}", file=sys.stderr)
        return 1
    for line in report(summary):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
