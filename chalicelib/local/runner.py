"""`make run`: the whole service on one machine, in one process tree, stopped by one Ctrl-C.

1. moto's server as the AWS stand-in, one request at a time (AtomicMotoServer);
2. the table and queues from infra/resources.yaml (the deployed stack's own definitions);
3. the guide's demo data;
4. the Chalice app behind Chalice's local gateway on 127.0.0.1:$PORT (as `chalice local`,
   plus the gateway responses API Gateway gives in AWS);
5. the events Lambda would get: the stream relay, the SQS consumer and the schedules;
6. the portal's pages (web/) on 127.0.0.1:$PORTAL_PORT (default PORT+1), a second origin that
   the API's CORS allows (ALLOWED_ORIGINS of the local stage);
7. an OpenID provider for the demo people on 127.0.0.1:$OIDC_PORT (default PORT+3), whose JWKS
   the API verifies tokens by, as it does ID-porten's and HelseID's in AWS (chalicelib/local/oidc.py);
8. a KRR stand-in on 127.0.0.1:$KRR_PORT (default PORT+4); SMS go to moto's SNS (chalicelib/local/krr.py).


SIGTERM (an IDE's stop button, `timeout`, `kill`) stops it as Ctrl-C does, at any moment, start-up
included; everything runs in this one process (threads), so its exit frees every port. A port
already in use fails at once with one line, before anything starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib import settings

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


def start(
    port: int = 8000,
    *,
    seed: bool = True,
    workers: bool = True,
    aws_port: int = 0,
    portal_port: int | None = None,
    standards_port: int = 0,
    oidc_port: int = 0,
    krr_port: int = 0,
) -> Stack:
    os.environ.update(stage_environment())
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    region = stage_environment()["AWS_DEFAULT_REGION"]
    os.environ["AWS_REGION"] = region

    from chalicelib.local import moto_patches
    from chalicelib.local.moto_server import AtomicMotoServer, Conflicts, Shedding
    from chalicelib.local.resources import create_resources

    moto_patches.install()
    if (conflicts := Conflicts.from_settings()) is not None:
        conflicts.install()  # LOCAL_CONFLICT_RATE: DynamoDB's transaction conflicts, as load
    # Sheds what it cannot serve in time (ThrottlingException, so the app answers 429), as
    # DynamoDB does, instead of queueing requests until their clients time out.
    standin = AtomicMotoServer("127.0.0.1", aws_port, shedding=Shedding())
    standin.start()
    stoppers: list[Any] = [standin.stop]
    os.environ["AWS_ENDPOINT_URL"] = standin.endpoint_url  # botocore (and so PynamoDB) follow it
    queue_name = stage_environment()["EVENTS_QUEUE_NAME"]
    resources = create_resources(
        standin.endpoint_url,
        region,
        stage_environment()["TABLE_NAME"],
        queue_name,
        queue_name.replace(".fifo", "-dlq.fifo"),
    )
    os.environ["EVENTS_QUEUE_URL"] = resources["queue_url"]
    os.environ["EVENTS_DEAD_LETTER_QUEUE_URL"] = resources["dead_letter_queue_url"]

    from chalicelib.local.standards import start_local

    os.environ.setdefault("PORTAL_URL", f"http://127.0.0.1:{port + 1}")
    standards = start_local(standin.endpoint_url, region, stage_environment()["TABLE_NAME"], standards_port)
    stoppers.append(standards.stop)  # the SMART feed files and the Helsenorge stand-in

    stoppers.append(_start_oidc(oidc_port))

    from chalicelib.local.krr import start_local as start_krr

    stoppers.append(start_krr(krr_port).stop)  # the contact register; SMS go to moto's SNS

    settings.reset()  # the stage, the stand-in's endpoint and queues: forget any client made before
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
    api_url = f"http://127.0.0.1:{server.server.server_port}"
    if portal_port is not None:
        stoppers.append(_start_portal(portal_port, api_url, settings.get().token_environment.get("TOKEN_ISSUER", "")))
    if workers:
        from chalicelib.local.events import LocalEvents

        events = LocalEvents(app)
        events.start()
        stoppers.append(events.stop)
    return Stack(standin.endpoint_url, api_url, resources, standin, stoppers)


def _start_oidc(port: int) -> Any:
    """The local OpenID provider; the API trusts its issuer and verifies by its JWKS (rs256), and
    POST /dev/token signs with its key, so every local token is verified as in AWS."""
    from chalicelib.local.oidc import API_AUDIENCE, OidcServer

    provider = OidcServer("127.0.0.1", port)
    provider.start()
    os.environ.update(
        {
            "TOKEN_MODE": "rs256",
            "TOKEN_JWKS_URL": f"{provider.issuer}/jwks",
            "TOKEN_ISSUER": provider.issuer,
            "TOKEN_AUDIENCE": API_AUDIENCE,
        }
    )
    settings.reset()
    return provider.stop


def _start_portal(port: int, api_url: str, issuer: str = "") -> Any:
    """The pages on their own origin; the API allows that origin (the stage's $PORTAL_PORT), and
    the OpenID provider sends the citizen back to it."""
    from string import Template

    from chalicelib.local import oidc
    from chalicelib.local.portal import PortalServer

    portal = PortalServer("127.0.0.1", port, api_url, issuer)
    portal.start()
    template = Template(settings.get().allowed_origins)
    os.environ["ALLOWED_ORIGINS"] = template.safe_substitute(PORTAL_PORT=str(portal.port))
    os.environ["PORTAL_URL"] = f"http://127.0.0.1:{portal.port}"
    settings.reset()  # the API's CORS and the feed's links follow the portal's port
    provider = oidc.running()
    if provider is not None:
        for origin in settings.get().allowed_origins.replace(",", " ").split():
            provider.register(oidc.PORTAL_CLIENT, f"{origin}/", f"{origin}/index.html")
    return portal.stop


class PortInUse(Exception):
    pass


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Bind as the HTTP server will (SO_REUSEADDR), then let go: a busy port fails here, in a moment."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = f"port {port} on {host} is in use ({error.strerror}); stop what holds it or use PORT=..."
            raise PortInUse(reason) from None


STOP_SECONDS = 4.0  # `make run` stops within 5 s of SIGTERM or Ctrl-C, whatever runs


def stop_within(stack: Stack, seconds: float) -> bool:
    """Stop the stack's parts side by side, waiting at most `seconds` in all: True if every part
    stopped in time. A part still busy (a background closure, a long poll) is cut short, which is
    safe: every background step is idempotent and resumes on the next run."""
    deadline = time.monotonic() + seconds
    stoppers: list[threading.Thread] = []
    while stack._stoppers:
        stopper = threading.Thread(target=_stop_one, args=(stack._stoppers.pop(),), name="stopping", daemon=True)
        stopper.start()
        stoppers.append(stopper)
    for stopper in stoppers:
        stopper.join(max(0.0, deadline - time.monotonic()))
    return not any(stopper.is_alive() for stopper in stoppers)


def _stop_one(stop: Any) -> None:
    try:
        stop()
    except Exception:  # the others go on stopping
        logger.exception("while stopping")


def _stop_on_sigterm(*_: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the runner exactly as Ctrl-C does, wherever it is


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Timebok locally on an AWS stand-in.")
    parser.add_argument("--port", type=int, default=int(settings.get().port or "8000"))
    parser.add_argument(
        "--portal-port", type=int, default=None, help="the portal's port (default $PORTAL_PORT, else --port + 1)"
    )
    parser.add_argument(
        "--oidc-port", type=int, default=None, help="the OpenID provider's port (default $OIDC_PORT, else --port + 3)"
    )
    parser.add_argument("--no-demo", action="store_true", help="start empty, without the guide's demo data")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        check_port_free(args.port)
    except PortInUse as error:
        print(f"make run: {error}", file=sys.stderr)
        sys.exit(1)
    from chalicelib import logs

    logs.configure(console=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    portal_port = args.portal_port
    if portal_port is None:
        portal_port = int(settings.get().portal_port or args.port + 1)
    standards_port = int(settings.get().standards_port or args.port + 2)
    oidc_port = args.oidc_port
    if oidc_port is None:
        oidc_port = int(settings.get().oidc_port or args.port + 3)
    krr_port = int(settings.get().krr_port or args.port + 4)  # busy: any free one (printed below)
    try:  # every port we serve on: a busy one is one line, not a traceback from deep in a server
        for port in (portal_port, standards_port, oidc_port):
            check_port_free(port)
    except PortInUse as error:
        print(f"make run: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"Starting Timebok on http://127.0.0.1:{args.port} (the AWS stand-in, then the demo data) ...", flush=True)
    stack: Stack | None = None
    try:
        stack = start(
            args.port,
            seed=not args.no_demo,
            portal_port=portal_port,
            standards_port=standards_port,
            oidc_port=oidc_port,
            krr_port=krr_port,
        )
        print(f"Timebok is serving on {stack.api_url}  (AWS stand-in on {stack.endpoint_url}); Ctrl-C stops it.")
        print(f"The portal: {settings.get().portal_url}/  (staff: {settings.get().portal_url}/staff.html)")
        print(f"Sign-in (OpenID provider for the demo people): {settings.get().token_environment.get('TOKEN_ISSUER')}")
        print(f"SMART feed: {settings.get().feed_base_url}/$bulk-publish")
        print(f"Helsenorge stand-in: {settings.get().helsenorge_appointment_url} (GET /dev/helsenorge/appointments)")
        print(f"KRR stand-in: {settings.get().krr_url} (SMS: GET /dev/sms)")
        print("Each request is logged as one line: method, path, status, milliseconds.", flush=True)
        while True:
            time.sleep(3600)  # interruptible: Ctrl-C and SIGTERM arrive as KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut the stop short
        stopped = stack is None or stop_within(stack, STOP_SECONDS)
        print("Timebok stopped." if stopped else "Timebok stopped. (Background work was cut short.)", flush=True)
        if not stopped:
            os._exit(0)  # a thread still busy (a background closure) must not hold the exit up


if __name__ == "__main__":
    main()
