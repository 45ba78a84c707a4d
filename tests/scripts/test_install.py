"""scripts/install.py: uv gets the indexes pip is configured with (uv does not read pip.conf)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("timebok_install_script", ROOT / "scripts" / "install.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


install = _load()

PIP_CONFIG_LIST = """\
:env:.cert='/ca/bundle.crt'
:env:.find-links='/wheels/env'
global.extra-index-url='file:///idx/one/simple file:///idx/two/simple'
global.find-links='/wheels/global'
global.constraint='/etc/pip/constraints.txt'
global.default-timeout='180'
"""


def test_pip_config_list_is_read_with_pips_precedence(monkeypatch) -> None:
    class Done:
        stdout = PIP_CONFIG_LIST

    monkeypatch.setattr(install.subprocess, "run", lambda *a, **k: Done())
    config = install.pip_config("python")
    assert config["find-links"] == "/wheels/env"  # PIP_* beats the files, as in pip
    assert config["extra-index-url"] == "file:///idx/one/simple file:///idx/two/simple"


def test_uv_gets_the_same_indexes_and_picks_the_best_version_over_all_as_pip_does() -> None:
    config = {
        "extra-index-url": "file:///idx/one/simple file:///idx/two/simple",
        "find-links": "/wheels",
        "constraint": "/etc/pip/constraints.txt",
        "cert": "/ca/bundle.crt",
        "default-timeout": "180",
    }
    arguments = install.uv_arguments(config)
    assert arguments == [
        "--extra-index-url", "file:///idx/one/simple",
        "--extra-index-url", "file:///idx/two/simple",
        "--find-links", "/wheels",
        "--constraint", "/etc/pip/constraints.txt",
        "--index-strategy", "unsafe-best-match",
    ]  # fmt: skip
    env = install.uv_environment(config, {})
    assert env == {"SSL_CERT_FILE": "/ca/bundle.crt", "UV_HTTP_TIMEOUT": "180"}


def test_no_pip_config_no_extra_arguments() -> None:
    assert install.uv_arguments({}) == []
