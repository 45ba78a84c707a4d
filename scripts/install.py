"""Install requirements-dev.txt into .venv quickly and visibly (what every `make` target runs first).

1. `uv` (pinned below) goes into the venv with pip, the one installer a fresh venv has;
2. `uv pip install -r requirements-dev.txt` installs the rest, showing what it does; on a cold
   cache this takes seconds where pip takes tens of them.

uv does not read pip's configuration, so this script reads it (`pip config list`, which also
shows PIP_* environment variables) at run time and passes the same extra indexes, find-links,
constraints and CA bundle on; nothing machine-specific lives in the repo. With uv unavailable
(no registry has it), it falls back to pip, with pip's progress shown.

Run with the venv's interpreter: `.venv/bin/python scripts/install.py [requirements files]`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

UV = "uv==0.13.9"
ROOT = Path(__file__).resolve().parents[1]
# pip option -> (uv option, takes several space-separated values)
PIP_TO_UV: Mapping[str, tuple[str, bool]] = {
    "index-url": ("--index-url", False),
    "extra-index-url": ("--extra-index-url", True),
    "find-links": ("--find-links", True),
    "constraint": ("--constraint", True),
    "no-index": ("--no-index", False),
}


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def pip_config(python: str = sys.executable) -> dict[str, str]:
    """pip's effective options as {name: value}: files first, then PIP_* variables (pip's order)."""
    result = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False)
    scoped: dict[str, dict[str, str]] = {}
    for line in result.stdout.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or "." not in key:
            continue
        scope, _, name = key.rpartition(".")
        value = raw.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        scoped.setdefault(scope, {})[name] = value
    merged: dict[str, str] = {}
    for scope in ("global", "user", "site", "install", ":env:"):  # later wins, as in pip
        merged.update(scoped.get(scope, {}))
    for scope, options in scoped.items():  # any other scope (pip may add some): below :env:
        if scope not in ("global", "user", "site", "install", ":env:"):
            for name, value in options.items():
                merged.setdefault(name, value)
    return merged


def uv_arguments(config: Mapping[str, str]) -> list[str]:
    """pip's index options in uv's words; pip picks the best version over all indexes, so uv must too."""
    arguments: list[str] = []
    for name, (option, many) in PIP_TO_UV.items():
        value = config.get(name)
        if not value:
            continue
        if option == "--no-index":
            if value.lower() in ("1", "true", "yes", "on"):
                arguments.append(option)
            continue
        for item in shlex.split(value) if many else [value]:
            arguments += [option, item]
    if "--extra-index-url" in arguments or "--find-links" in arguments:
        arguments += ["--index-strategy", "unsafe-best-match"]
    return arguments


def uv_environment(config: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    env = dict(environ)
    cert = config.get("cert")
    if cert and "SSL_CERT_FILE" not in env:
        env["SSL_CERT_FILE"] = cert  # pip's CA bundle (a proxy's CA, say) for uv too
    timeout = config.get("timeout") or config.get("default-timeout")
    if timeout and "UV_HTTP_TIMEOUT" not in env:
        env["UV_HTTP_TIMEOUT"] = timeout
    return env


def uv_path(python: str) -> Path | None:
    candidate = Path(python).with_name("uv")
    if candidate.exists():
        return candidate
    say(f"installing {UV} into the venv with pip")
    result = subprocess.run([python, "-m", "pip", "install", "--quiet", UV], check=False)
    return candidate if result.returncode == 0 and candidate.exists() else None


def install(requirements: Iterable[str], python: str = sys.executable) -> int:
    started = time.monotonic()
    files = [str(Path(r)) for r in requirements]
    requirement_args = [part for f in files for part in ("-r", f)]
    uv = uv_path(python)
    if uv is not None:
        config = pip_config(python)
        command = [str(uv), "pip", "install", "--python", python, *uv_arguments(config), *requirement_args]
        say(f"installing {' '.join(files)} with uv")
        code = subprocess.run(command, env=uv_environment(config), check=False).returncode
    else:
        say(f"uv unavailable: installing {' '.join(files)} with pip (a minute or two)")
        command = [python, "-m", "pip", "install", "--progress-bar", "on", *requirement_args]
        code = subprocess.run(command, check=False).returncode
    if code == 0:
        say(f"set-up done in {time.monotonic() - started:.0f} s")
    return code


def main(argv: list[str]) -> int:
    return install(argv or ["requirements-dev.txt"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
