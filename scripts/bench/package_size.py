"""Part 4: the size of build/prod/deployment.zip, when `make package` has made it (the path is
scripts/package.deployment_zip's, the one home of where the zip goes)."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping

# ---- 4. package size ---------------------------------------------------------------------------
from typing import Any

from scripts.bench.common import ROOT


def measure_package(stage: str = "prod") -> dict[str, Any]:
    from scripts.package import deployment_zip

    package = deployment_zip(stage)
    shown = str(package.relative_to(ROOT)) if package.is_relative_to(ROOT) else str(package)
    if not package.exists():
        return {"present": False, "message": f"package: no {shown}; run make package first"}
    with zipfile.ZipFile(package) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        files = len(archive.infolist())
        # scripts/package.add_bytecode's share: the zip before it is the zip without these.
        bytecode = [info for info in archive.infolist() if info.filename.endswith(".pyc")]
    return {
        "bytecode_files": len(bytecode),
        "bytecode_zipped_bytes": sum(info.compress_size for info in bytecode),
        "bytecode_unzipped_bytes": sum(info.file_size for info in bytecode),
        "present": True,
        "path": shown,
        "zipped_bytes": package.stat().st_size,
        "unzipped_bytes": unzipped,
        "files": files,
    }


def print_package(result: Mapping[str, Any]) -> None:
    print("\n== 4. Package size ==")
    if not result["present"]:
        print(result["message"])
        return
    print(
        f"{result['path']}: {result['zipped_bytes'] / 1e6:.2f} MB zipped, "
        f"{result['unzipped_bytes'] / 1e6:.2f} MB unzipped, {result['files']} files "
        "(Lambda limit: 50 MB zipped, 250 MB unzipped)"
    )
    if result["bytecode_files"]:
        print(
            f"of which bytecode: {result['bytecode_zipped_bytes'] / 1e6:.2f} MB zipped, "
            f"{result['bytecode_unzipped_bytes'] / 1e6:.2f} MB unzipped, {result['bytecode_files']} files "
            "(without it every cold start compiles every module: docs/decisions.md, 'Bytecode in the zip')"
        )
