"""A fake Kaggle API server on 127.0.0.1 for driving the real ``kaggle`` client in tests.

How the installed client (kaggle 2.x on kagglesdk) is redirected: with
``KAGGLE_API_ENVIRONMENT=LOCALHOST`` it calls ``http://localhost/api/v1/<Service>/<Method>``
(port 80, plain HTTP; there is no endpoint-override variable). It uses ``requests``
with the environment's proxy settings, so ``HTTP_PROXY=http://127.0.0.1:<port>``
(and no ``NO_PROXY``) sends every call, including the upload PUT and download GET,
to this server as an absolute-URI proxy request. :meth:`FakeKaggle.client_env`
builds such an environment. No request can reach kaggle.com: the client's host
is ``localhost`` and the proxy is this server.

Endpoints served (POST, JSON bodies, camelCase fields as kagglesdk sends them):
``competitions.CompetitionApiService/StartSubmissionUpload`` -> ``{token, createUrl}``,
``PUT /upload/<token>`` (the bytes), ``.../CreateSubmission`` -> ``{message, ref}``,
``.../ListSubmissions`` -> ``{submissions: [...]}`` (PENDING for the first
``pending_polls`` calls, then COMPLETE with ``public_score``),
``.../DownloadDataFiles`` -> 302 to ``/files/<slug>.zip`` (the ``zip_bytes``).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SERVICE = "/api/v1/competitions.CompetitionApiService/"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class FakeKaggle:
    public_score: str = "0.87654"
    pending_polls: int = 1
    upload_status: int = 200
    create_response: dict | None = None  # overrides CreateSubmission's reply
    zip_bytes: bytes = b""
    ref: int = 4242
    requests: list[Request] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._list_calls = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        chunk = self.rfile.read(size + 2)[:size]
                        if size == 0:
                            break
                        body += chunk
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path  # absolute URI when proxied
                req = Request(self.command, path, dict(self.headers), body)
                with fake._lock:
                    fake.requests.append(req)
                status, headers, payload = fake.route(req)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FakeKaggle:
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def client_env(self, base: dict[str, str] | None = None, *, home: str,
                   credentials: bool = True) -> dict[str, str]:
        """Environment for a subprocess running the real kaggle client against this fake."""
        env = {k: v for k, v in (base if base is not None else os.environ).items()
               if not k.startswith("KAGGLE_") and k.lower() not in
               ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        proxy = f"http://127.0.0.1:{self.port}"
        env.update({
            "HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
            "KAGGLE_CONFIG_DIR": os.path.join(home, ".kaggle"),
            "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
            "HTTP_PROXY": proxy, "http_proxy": proxy,
            "HTTPS_PROXY": proxy, "https_proxy": proxy,  # never used: all URLs are http
            "GWKIT_KAGGLE": "0",
        })
        if credentials:
            env.update({"KAGGLE_USERNAME": "tester", "KAGGLE_KEY": "secret-key"})
        return env

    # ------------------------------------------------------------------ routes
    def calls(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/" + name)]

    def route(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        js = {"Content-Type": "application/json"}
        if req.method == "POST" and req.path.startswith(SERVICE):
            method = req.path[len(SERVICE):]
            if method == "StartSubmissionUpload":
                token = f"tok{len(self.calls(method))}"
                body = {"token": token, "createUrl": f"http://localhost/upload/{token}"}
                return 200, js, json.dumps(body).encode()
            if method == "CreateSubmission":
                body = self.create_response or {
                    "message": "Successfully submitted to the competition", "ref": self.ref}
                return 200, js, json.dumps(body).encode()
            if method == "ListSubmissions":
                with self._lock:
                    self._list_calls += 1
                    done = self._list_calls > self.pending_polls
                sub = {"ref": self.ref, "fileName": "submission.csv",
                       "date": "2024-01-01T00:00:00Z",
                       "status": "COMPLETE" if done else "PENDING"}
                if done:
                    sub["publicScore"] = self.public_score
                older = {"ref": self.ref - 1, "status": "COMPLETE", "publicScore": "0.1",
                         "date": "2023-12-31T00:00:00Z"}
                return 200, js, json.dumps({"submissions": [sub, older]}).encode()
            if method == "DownloadDataFiles":
                slug = req.json().get("competitionName", "x")
                return 302, {"Location": f"http://localhost/files/{slug}.zip"}, b""
            return 404, js, json.dumps({"code": 404, "message": f"no {method}"}).encode()
        if req.method == "PUT" and req.path.startswith("/upload/"):
            self.uploads[req.path.rsplit("/", 1)[-1]] = req.body
            return self.upload_status, {"Content-Type": "text/plain"}, b"ok"
        if req.method == "GET" and req.path.startswith("/files/"):
            return 200, {"Content-Type": "application/zip",
                         "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, self.zip_bytes
        return 404, {"Content-Type": "text/plain"}, b"not found"
