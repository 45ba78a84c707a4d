"""What every part of the bench shares: the repository's root, the local stage's environment,
synthetic citizens and their tokens, quiet logs and fresh AWS clients.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

BUILD = ROOT / "build"
REGION = "eu-north-1"

# Surge defaults (the command line overrides them): 10 citizens per place, the issue's 1/10 scale.
DEFAULT_PLACES = 200
CITIZENS_PER_PLACE = 10
DEFAULT_CAPACITY = 2
DEFAULT_THREADS = 32
DEFAULT_REPEAT = 3
IMPORT_RUNS = 5


# ---- environment: the local stage, as tests/conftest.py sets it up ------------------------------


def local_stage_environment() -> dict[str, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"]["local"]["environment_variables"])
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    return env


def use_local_stage() -> None:
    """The environment of the local stage, before anything of chalicelib reads it."""
    os.environ.update(local_stage_environment())
    os.environ.pop("AWS_ENDPOINT_URL", None)


def token_for(sub: str, role: str = "citizen", name: str = "Bench Person", **claims: Any) -> str:
    from chalicelib.http.tokens import issue_token
    from chalicelib.local import oidc

    provider = oidc.running()  # runner.start's stack verifies by the local OpenID provider's JWKS
    if provider is not None:
        return provider.access_token({"sub": sub, "role": role, "name": name, **claims})
    return issue_token({"sub": sub, "role": role, "name": name, **claims}, os.environ["TOKEN_SECRET"])


def citizen(n: int) -> tuple[str, str, str]:
    """(pid, phone, token) of the n-th synthetic citizen."""
    from tests.factories import make_phone, make_pid

    pid = make_pid(20_000 + n)
    return pid, make_phone(20_000 + n), token_for(pid, name=f"Innbygger {n}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quiet_logs() -> None:
    """Importing app configures logging at INFO; in a surge its warnings (409s, 429s, urllib3's
    pool being outgrown by the threads) would bury the tables. 5xx are kept by the bench."""
    logging.getLogger().setLevel(logging.ERROR)
    for name in ("urllib3", "botocore", "timebok"):
        logging.getLogger(name).setLevel(logging.ERROR)


def forget_aws_clients() -> None:
    """Clients made under mock_aws point at AWS's real endpoints: drop every cached one."""
    from chalicelib.local import stream
    from chalicelib.messaging import publisher
    from chalicelib.storage import repository

    repository.reset_connections()
    publisher.reset_default_publisher()
    stream.reset()  # the stream relay's reader (tests' and the runner's)
