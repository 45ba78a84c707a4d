"""scripts/package.py: the merge, the trimming of the zip, and the zip `make package` left."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

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
        ("botocore/data/s3/2006-03-01/service-2.json.gz", True),
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


def test_built_zip_is_small_and_trimmed() -> None:
    """The zip `make package` left in build/, if any (building it needs PyPI, so tests do not)."""
    path = ROOT / "build" / packaging.ZIP_NAME
    if not path.exists():
        pytest.skip("no build/deployment.zip: run make package")
    sizes = packaging.zip_sizes(path)
    assert sizes["unzipped_bytes"] < packaging.MAX_UNZIPPED_BYTES
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "app.py" in names and "chalicelib/storage/repository.py" in names
    assert not [n for n in names if packaging.is_pruned(n)]
