"""`make run`: the whole service on one machine, in one process tree, stopped by one Ctrl-C.

1. moto's server as the AWS stand-in, one request at a time (AtomicMotoServer);
2. the table and queues from infra/resources.yaml (the deployed stack's own definitions);
3. the guide's demo data;
4. the Chalice app behind Chalice's local gateway on 127.0.0.1:$PORT (as `chalice local`,
   plus the gateway responses API Gateway gives in AWS);
5. the events Lambda would get: the outbox relay, the SQS consumer and the schedules.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STAGE = "local"

logger = logging.getLogger("timebok.local")


def stage_environment(stage: str = STAGE) -> dict[str, str]:
    """The stage's environment variables from .chalice/config.json (as chalice local applies them)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


@dataclass
class Stack:
    """What `start` brought up; `stop` takes it down in reverse order."""

    endpoint_url: str
    api_url: str
    resources: dict[str, str]
    standin: Any = None
    _stoppers: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        while self._stoppers:
            stop = self._stoppers.pop()
            try:
                stop()
            except Exception:  # keep stopping the rest
                logger.exception("while stopping")


def start(port: int = 8000, *, seed: bool = True, workers: bool = True, aws_port: int = 0) -> Stack:
    os.environ.update(stage_environment())
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    region = os.environ["AWS_DEFAULT_REGION"]
    os.environ["AWS_REGION"] = region

    from chalicelib.local import moto_patches
    from chalicelib.local.standin import AtomicMotoServer, Shedding, create_resources

    moto_patches.install()
    # Sheds what it cannot serve in time (ThrottlingException, so the app answers 429), as
    # DynamoDB does, instead of queueing requests until their clients time out.
    standin = AtomicMotoServer("127.0.0.1", aws_port, shedding=Shedding())
    standin.start()
    stoppers: list[Any] = [standin.stop]
    os.environ["AWS_ENDPOINT_URL"] = standin.endpoint_url  # botocore (and so PynamoDB) follow it
    queue_name = os.environ["EVENTS_QUEUE_NAME"]
    resources = create_resources(
        standin.endpoint_url, region, os.environ["TABLE_NAME"], queue_name, queue_name.replace(".fifo", "-dlq.fifo")
    )
    os.environ["EVENTS_QUEUE_URL"] = resources["queue_url"]
    os.environ["EVENTS_DEAD_LETTER_QUEUE_URL"] = resources["dead_letter_queue_url"]

    from chalicelib.messaging.publisher import reset_default_publisher
    from chalicelib.storage import repository

    repository.reset_connections()
    reset_default_publisher()
    if seed:
        from chalicelib.local import demo

        demo.seed()

    from chalice.config import Config

    from app import app
    from chalicelib.local.gateway import local_server

    config = Config.create(chalice_stage=STAGE, lambda_timeout=60, lambda_memory_size=512)
    server = local_server(app, config, "127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, name="chalice-local", daemon=True)
    thread.start()
    stoppers.append(server.shutdown)
    if workers:
        from chalicelib.local.events import LocalEvents

        events = LocalEvents(app)
        events.start()
        stoppers.append(events.stop)
    return Stack(standin.endpoint_url, f"http://127.0.0.1:{server.server.server_port}", resources, standin, stoppers)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Timebok locally on an AWS stand-in.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--no-demo", action="store_true", help="start empty, without the guide's demo data")
    args = parser.parse_args()
    from chalicelib import logs

    logs.configure()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stack = start(args.port, seed=not args.no_demo)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"Timebok is serving on {stack.api_url}  (AWS stand-in on {stack.endpoint_url}); Ctrl-C stops it.")
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("Timebok stopped.")


if __name__ == "__main__":
    main()
