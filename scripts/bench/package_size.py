"""Part 4: the size of build/deployment.zip, when `make package` has made it."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping

# ---- 4. package size ---------------------------------------------------------------------------
from typing import Any

from scripts.bench.common import BUILD


def measure_package() -> dict[str, Any]:
    package = BUILD / "deployment.zip"
    if not package.exists():
        return {"present": False, "message": "package: run make package first"}
    with zipfile.ZipFile(package) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        files = len(archive.infolist())
    return {"present": True, "zipped_bytes": package.stat().st_size, "unzipped_bytes": unzipped, "files": files}


def print_package(result: Mapping[str, Any]) -> None:
    print("\n== 4. Package size ==")
    if not result["present"]:
        print(result["message"])
        return
    print(
        f"build/deployment.zip: {result['zipped_bytes'] / 1e6:.2f} MB zipped, "
        f"{result['unzipped_bytes'] / 1e6:.2f} MB unzipped, {result['files']} files "
        "(Lambda limit: 50 MB zipped, 250 MB unzipped)"
    )
