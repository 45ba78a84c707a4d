"""The portal's static files (web/) on their own origin, as CloudFront serves them in AWS.

A second origin on purpose: the pages call the API across origins, so CORS is exercised locally
exactly as in production. `config.json` is made here from the running API's URL (in AWS the
deploy step writes it: scripts/publish_portal.py). The same security headers as the deployed
distribution: the pages may talk only to their own origin, the API and the OpenID provider.
"""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

WEB = Path(__file__).resolve().parents[2] / "web"
# The text catalogues live with the server's code (chalicelib/i18n/, one file per language for the
# pages, the inbox and the .ics); the pages read them as i18n/{lang}.json, as published.
CATALOGUES = Path(__file__).resolve().parents[1] / "i18n"


def portal_config(api_url: str, issuer: str, stage: str = "local") -> dict[str, Any]:
    """What the pages read first: where the API is and where to sign in (docs/portal.md): the local
    OpenID provider (chalicelib/local/oidc.py), as ID-porten or HelseID in AWS."""
    from chalicelib.local.oidc import PORTAL_CLIENT

    sign_in = {"mode": "oidc", "issuer": issuer.rstrip("/"), "client_id": PORTAL_CLIENT}
    return {"api": api_url.rstrip("/"), "stage": stage, "sign_in": sign_in}


def security_headers(api_url: str, issuer: str = "") -> dict[str, str]:
    """The pages talk to their own origin, the API and the OpenID provider (discovery, token, keys)."""
    connect = " ".join(url.rstrip("/") for url in (api_url, issuer) if url)
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; connect-src 'self' {connect}; img-src 'self' data:; "
            "style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class PortalHandler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def __init__(self, *args: Any, api_url: str, issuer: str, **kwargs: Any) -> None:
        self.api_url = api_url
        self.issuer = issuer
        super().__init__(*args, directory=str(WEB), **kwargs)

    def end_headers(self) -> None:
        for name, value in security_headers(self.api_url, self.issuer).items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")  # revalidate: a changed file shows at once
        super().end_headers()

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/config.json":
            body = json.dumps(portal_config(self.api_url, self.issuer)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def translate_path(self, path: str) -> str:
        """i18n/{lang}.json from chalicelib/i18n/ (only the catalogues), anything else from web/."""
        parts = path.split("?", 1)[0].split("#", 1)[0].split("/")
        if len(parts) == 3 and parts[1] == "i18n" and parts[2].endswith(".json"):
            catalogue = CATALOGUES / parts[2]
            if catalogue.parent == CATALOGUES and catalogue.is_file():
                return str(catalogue)
        return super().translate_path(path)

    def list_directory(self, path: Any) -> None:  # type: ignore[override]
        self.send_error(404)  # no directory listings, as from the private bucket

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PortalServer:
    """The static server in a daemon thread; `stop` shuts it down."""

    def __init__(self, host: str, port: int, api_url: str, issuer: str = "") -> None:
        self._server = ThreadingHTTPServer((host, port), partial(PortalHandler, api_url=api_url, issuer=issuer))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="portal", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
