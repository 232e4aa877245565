"""Shared fixtures. Tests never read ../shared: everything is generated here or in tests/data."""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
from pathlib import Path

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

DATA = Path(__file__).parent / "data"
# Shared test helpers (metadata_samples.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def hamilton_clip() -> Path:
    return DATA / "short_hamilton_clip.mp4"


@pytest.fixture(scope="session")
def face_photo() -> Path:
    """A CC0 photo with one large unmasked face."""
    return DATA / "face_mask" / "maksssksksss343.jpg"


@pytest.fixture(scope="session")
def photo_run(tmp_path_factory) -> Path:
    """A photo with five faces anonymized once (default settings, verified): ``root/in/<photo>``, ``root/out/``.

    Shared by the edits and review tests; tests that change it work on a copy.
    """
    import shutil

    from veil.cli import main

    root = tmp_path_factory.mktemp("photo-run")
    src = root / "in" / "maksssksksss230.jpg"
    src.parent.mkdir()
    shutil.copy(DATA / "face_mask" / src.name, src)
    assert main(["anonymize", str(src), "-o", str(root / "out")]) in (0, 3)
    return root


TOKEN = "t0ken-for-tests"


class ReviewServer:
    """veil review's app on a real socket (uvicorn on a thread); requests sent byte for byte."""

    def __init__(self, outdir, originals=None) -> None:
        import uvicorn

        from veil.review import ReviewSession
        from veil.review.app import create_app
        from veil.review.serve import open_socket

        # The runs of these tests read their inputs from OUTDIR's sibling folder "in".
        self.session = ReviewSession(outdir, originals=originals or [Path(outdir).parent / "in"])
        self.sock = open_socket("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.app = create_app(self.session, token=TOKEN, port=self.port)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.02)
        self.logged_in = False
        self.token = TOKEN

    def request(self, method, path, *, body=None, headers=None, host=None, token=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        all_headers = {"Host": host if host is not None else f"127.0.0.1:{self.port}"}
        if token and self.logged_in:
            all_headers["X-Veil-Token"] = TOKEN
        all_headers.update(headers or {})
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in all_headers.items():
            conn.putheader(k, v)
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        r.body = r.read()
        r.text = r.body.decode("utf-8", "replace")
        conn.close()
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def json(self, path):
        r = self.get(path)
        assert r.status == 200, (path, r.status, r.text)
        return json.loads(r.body)

    def put_edits(self, body, headers=None):
        headers = {"Origin": self.origin, "Content-Type": "application/json"} if headers is None else headers
        return self.request("PUT", "/api/files/0/edits", body=json.dumps(body), headers=headers)

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port}"

    def login(self):
        """Send the token (as the page does, in a header) with every request from now on."""
        r = self.get(f"/?token={TOKEN}", token=False)
        assert r.status == 200 and r.getheader("set-cookie") is None
        self.logged_in = True
        return self

    def close(self):
        self.server.should_exit = True
        self.thread.join(10)
        self.app.applier.stop()
        self.session.close()


@pytest.fixture
def serve():
    """Start veil review's server on an OUTDIR (logged in unless ``login=False``); stopped after the test."""
    pytest.importorskip("starlette", reason="veil review needs the review extra (starlette, uvicorn)")
    pytest.importorskip("uvicorn", reason="veil review needs the review extra (starlette, uvicorn)")
    servers = []

    def start(outdir, *, login=True):
        server = ReviewServer(outdir)
        servers.append(server)
        return server.login() if login else server

    yield start
    for server in servers:
        server.close()
