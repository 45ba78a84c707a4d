"""scripts/package.py: the merge, the trimming of the zip, and the zip `make package` left."""

from __future__ import annotations

import ast
import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.awscalls import LOCAL_ONLY
from tests.infra.conftest import ROOT, packaging


def test_merge_is_chalices_deep_merge() -> None:
    base = {"A": {"Type": "T", "Properties": {"List": [1, 2], "Keep": 1, "Map": {"x": 1}}}}
    override = {"A": {"Properties": {"List": [3], "Map": {"y": 2}}}, "B": {"Type": "U"}}
    assert packaging.deep_merge(base, override) == {
        "A": {"Type": "T", "Properties": {"List": [3], "Keep": 1, "Map": {"x": 1, "y": 2}}},
        "B": {"Type": "U"},
    }


def test_stack_yaml_may_not_change_what_a_stateful_resource_is(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(yaml.safe_dump({"Resources": {"TimebokTable": {"Type": "AWS::S3::Bucket"}}}), encoding="utf-8")
    with pytest.raises(packaging.PackageError, match="TimebokTable"):
        packaging.merge_template(packaging.RESOURCES, stack)


def test_the_stand_in_reads_the_same_stateful_resources_the_stack_gets() -> None:
    from chalicelib.local import standin

    merged = packaging.merge_template()["Resources"]
    local = yaml.safe_load(standin.DEFAULT_TEMPLATE_PATH.read_text(encoding="utf-8"))["Resources"]
    for logical_id in (standin.TABLE_RESOURCE, standin.QUEUE_RESOURCE, standin.DEAD_LETTER_QUEUE_RESOURCE):
        # infra/stack.yaml, see docs/decisions.md (warm throughput: parameters; nothing to warm locally)
        cloud_only = {"DeletionProtectionEnabled", "QueueName", "WarmThroughput"}
        deployed = {k: v for k, v in merged[logical_id]["Properties"].items() if k not in cloud_only}
        assert deployed == local[logical_id]["Properties"], logical_id


@pytest.mark.parametrize(
    ("name", "pruned"),
    [
        ("botocore/data/dynamodb/2012-08-10/service-2.json.gz", False),
        ("botocore/data/sqs/2012-11-05/service-2.json.gz", False),
        ("botocore/data/endpoints.json", False),
        ("botocore/data/partitions.json", False),
        ("botocore/data/s3/2006-03-01/service-2.json.gz", False),  # the SMART feed writes to S3
        ("botocore/data/lambda/2015-03-31/service-2.json.gz", True),
        ("botocore/data/ec2/2016-11-15/service-2.json.gz", True),
        ("botocore/client.py", False),
        ("phonenumbers/geodata/data0.py", True),
        ("phonenumbers/carrierdata/data0.py", True),
        ("phonenumbers/tzdata/data0.py", True),
        ("phonenumbers/data/region_NO.py", False),
        ("chalicelib/storage/repository.py", False),
        ("chalicelib/local/standin.py", True),
        ("chalicelib/messaging/local_consumer.py", True),
        ("chalicelib/messaging/consumer.py", False),
        ("chalicelib/http/__pycache__/auth.cpython-311.pyc", True),
    ],
)
def test_what_the_zip_leaves_out(name: str, pruned: bool) -> None:
    assert packaging.is_pruned(name) is pruned


def _client_services() -> set[str]:
    """Services named in client("...") calls outside the local-only code."""
    found = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        if path.relative_to(ROOT).as_posix().startswith(LOCAL_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "client"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def test_the_zip_keeps_the_botocore_models_the_code_uses() -> None:
    assert _client_services() | {"dynamodb"} <= set(packaging.BOTOCORE_SERVICES)  # dynamodb: PynamoDB


def test_no_deployed_module_imports_the_local_only_code() -> None:
    """The zip leaves chalicelib/local/ and the local consumer out: nothing deployed may need them."""
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        if path.relative_to(ROOT).as_posix().startswith(LOCAL_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for name in names:
                assert not name.startswith(("chalicelib.local", "chalicelib.messaging.local_consumer")), path


def test_phonenumbers_is_used_without_its_pruned_tables() -> None:
    for path in (ROOT / "chalicelib").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for module in ("geocoder", "carrier", "timezone"):
            assert f"phonenumbers.{module}" not in text and f"from phonenumbers import {module}" not in text, path


def _distributions_of(requirements: Path) -> list[Any]:
    """The installed distributions requirements.txt names, with everything they need (what chalice
    package puts in the zip; the venv has the same pinned versions, as Linux wheels)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    wanted = [Requirement(line).name for line in requirements.read_text().splitlines() if line.split("#")[0].strip()]
    found: dict[str, Any] = {}
    while wanted:
        name = wanted.pop().lower().replace("_", "-")
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed is not needed either
        found[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": "crypto"}):
                wanted.append(requirement.name)
    return list(found.values())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """deployment.zip as `chalice package` lays it out (the app at the top, the libraries beside
    it), built offline from this venv; then trimmed and compiled by scripts/package.py as `make
    package` does. With what add_bytecode reported."""
    path = tmp_path_factory.mktemp("zip") / packaging.ZIP_NAME
    import chalice
    import chalice.app

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        # chalice/deploy/packager.py's _iter_app_filenames: Chalice's runtime (two files), the app.
        archive.write(chalice.app.__file__, "chalice/app.py")
        archive.write(chalice.__file__, "chalice/__init__.py")
        archive.write(ROOT / "app.py", "app.py")
        # _iter_chalice_lib_if_needed: every file of chalicelib/, the text catalogues (i18n/*.json) too.
        for source in sorted(p for p in (ROOT / "chalicelib").rglob("*") if p.is_file() and p.suffix != ".pyc"):
            archive.write(source, source.relative_to(ROOT).as_posix())
        for dist in _distributions_of(ROOT / "requirements.txt"):
            for file in dist.files or []:
                name = file.as_posix()
                if name.startswith("..") or ".dist-info/" in name or name.endswith(".pyc"):
                    continue
                archive.write(Path(dist.locate_file(file)), name)
    packaging.prune_zip(path)
    bytecode = packaging.add_bytecode(path)
    print(packaging.bytecode_report(bytecode))  # the size growth, in the test's output (-s)
    return path, bytecode


@pytest.fixture(scope="module")
def built_zip(built: tuple[Path, dict[str, int]]) -> Path:
    return built[0]


def test_the_trimmed_zip_is_small_and_runs(built_zip: Path) -> None:
    """What `make package` checks of the zip it builds, on a zip built here: small, trimmed, and
    the app imports and runs its libraries from it with only the Lambda runtime's SDK beside it."""
    sizes = packaging.zip_sizes(built_zip)
    assert sizes["unzipped_bytes"] < packaging.MAX_UNZIPPED_BYTES
    with zipfile.ZipFile(built_zip) as archive:
        names = archive.namelist()
    assert "app.py" in names and "chalicelib/storage/repository.py" in names
    assert {f"chalicelib/i18n/{lang}.json" for lang in ("nb", "nn", "en")} <= set(names)
    assert "botocore/data/dynamodb/2012-08-10/service-2.json.gz" in names
    ours = {packaging.bytecode_name(n) for n in names if n.endswith(".py")}  # add_bytecode's
    assert not [n for n in names if packaging.is_pruned(n) and n not in ours]
    packaging.smoke_test(built_zip)  # raises PackageError with the interpreter's output


def test_the_smoke_test_fails_a_zip_without_a_library(built_zip: Path, tmp_path: Path) -> None:
    broken = tmp_path / packaging.ZIP_NAME
    with zipfile.ZipFile(built_zip) as source, zipfile.ZipFile(broken, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            if not info.filename.startswith("pynamodb/"):
                target.writestr(info, source.read(info))
    with pytest.raises(packaging.PackageError, match="pynamodb"):
        packaging.smoke_test(broken)


def test_stages_build_into_their_own_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packaging, "BUILD", tmp_path)
    made = {stage: packaging.package(stage, template_only=True)["template"] for stage in ("dev", "prod")}
    assert made == {stage: str(tmp_path / stage / packaging.TEMPLATE_NAME) for stage in ("dev", "prod")}
    assert all(Path(template).exists() for template in made.values())


def test_every_module_in_the_zip_has_unchecked_bytecode(built: tuple[Path, dict[str, int]]) -> None:
    path, bytecode = built
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        sources = [n for n in names if n.endswith(".py")]
        missing = [n for n in sources if packaging.bytecode_name(n) not in names]
        header = archive.read(packaging.bytecode_name("chalicelib/storage/repository.py"))[:8]
    tag = sys.implementation.cache_tag
    assert packaging.bytecode_name("pydantic/main.py") == f"pydantic/__pycache__/main.{tag}.pyc"
    assert len(missing) == bytecode["skipped"] and bytecode["compiled"] == len(sources) - len(missing)
    assert len(missing) < 10, missing  # only the odd py2 or templated file
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, unchecked: file times do not matter
    assert bytecode["zipped_bytes_after"] > bytecode["zipped_bytes_before"]
    assert "the zip grew" in packaging.bytecode_report(bytecode)


def test_the_smoke_test_fails_a_zip_without_bytecode(built_zip: Path, tmp_path: Path) -> None:
    """On Lambda the task directory is read-only: a zip without .pyc compiles every module at each cold start."""
    source_only = tmp_path / packaging.ZIP_NAME
    with zipfile.ZipFile(built_zip) as source, zipfile.ZipFile(source_only, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            if "/__pycache__/" not in f"/{info.filename}":
                target.writestr(info, source.read(info))
    with pytest.raises(packaging.PackageError, match="bytecode is not used") as failed:
        packaging.smoke_test(source_only)
    assert "pydantic.main" in str(failed.value) and "pynamodb.models" in str(failed.value)


def test_bytecode_skips_what_does_not_compile_and_is_deterministic(tmp_path: Path) -> None:
    made = []
    for run in ("a", "b"):
        path = tmp_path / f"{run}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(zipfile.ZipInfo("lib/__init__.py", (2024, 1, 2, 3, 4, 6)), "X = 1\n")
            archive.writestr(zipfile.ZipInfo("lib/py2.py", (2024, 1, 2, 3, 4, 6)), 'print "old"\n')
            archive.writestr(zipfile.ZipInfo("lib/data.json", (2024, 1, 2, 3, 4, 6)), "{}")
        made.append((path, packaging.add_bytecode(path)))
    (first, summary), (second, _) = made
    assert (summary["compiled"], summary["skipped"]) == (1, 1)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
    assert names == ["lib/__init__.py", packaging.bytecode_name("lib/__init__.py"), "lib/py2.py", "lib/data.json"]


def test_the_package_refuses_a_runtime_other_than_the_packaging_python() -> None:
    function = {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.12"}}
    template = {"Resources": {"APIHandler": function}}
    assert packaging.check_runtime(template, "python3.12") == []
    assert [p.split(":")[0] for p in packaging.check_runtime(template, "python3.11")] == ["APIHandler"]
    assert packaging.python_runtime((3, 11)) == "python3.11"
