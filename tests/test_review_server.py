"""veil review's server without a browser: access token, Host and Origin checks, files by id only,
edits validated against the run, Apply that leaves nothing half done."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("starlette", reason="veil review needs the review extra (starlette, uvicorn)")
pytest.importorskip("uvicorn", reason="veil review needs the review extra (starlette, uvicorn)")

from veil.errors import UsageError  # noqa: E402
from veil.scale.journal import JOURNAL_NAME  # noqa: E402
from veil.review import ReviewSession, apply_pending  # noqa: E402
from veil.review.app import CSP  # noqa: E402
from veil.review.apply import Cancelled  # noqa: E402
from veil.review.session import Refused  # noqa: E402

PHOTO = "maksssksksss230.jpg"


@pytest.fixture(scope="module")
def run_dir(photo_run):
    return photo_run


@pytest.fixture
def run(run_dir, tmp_path):
    """A private copy of the run (inputs and outputs), for tests that change it."""
    root = tmp_path / "run"
    shutil.copytree(run_dir, root)
    report = root / "out" / "veil-report.json"
    text = report.read_text().replace(str(run_dir), str(root))
    report.write_text(text)
    return root


def _edit_body(**lists):
    body = {"added": [], "removed": [], "left_visible": [], "extended": [], "reviewed": []}
    body.update(lists)
    return body


# -- access -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/run", "/api/files/0", "/api/files/0/input", "/api/files/0/output",
                                  "/api/files/0/boxes", "/api/apply", "/no/such/thing"])
def test_no_token_no_access(run_dir, serve, path):
    server = serve(run_dir / "out", login=False)
    r = server.get(path)
    assert r.status == 401
    assert "access token" in r.text
    for guess in ("guess", "", server.token + "x", "t0ken-for-testé"):
        assert server.get(path, headers={"X-Veil-Token": guess}).status == 401
    # The token is never taken from a cookie: browsers send cookies to every port of a host.
    for name in ("veil_review", f"veil_review_{server.port}", "token", "X-Veil-Token"):
        assert server.get(path, headers={"Cookie": f"{name}={server.token}"}).status == 401
    assert server.get(f"{path}?token={server.token}").status == 401


def test_wrong_token_in_the_url(run_dir, serve):
    server = serve(run_dir / "out", login=False)
    r = server.get("/?token=nope")
    assert r.status == 401 and r.getheader("set-cookie") is None
    assert server.get("/?token=t0ken-for-test%C3%A9").status == 401  # not ASCII: refused, not a server error


def test_the_page_loads_without_the_token_and_holds_no_data(run_dir, serve):
    # The page and its assets are veil's own code, the same for every run: the token in the URL
    # (or in the page's storage) is what the page then sends with every request for data.
    server = serve(run_dir / "out", login=False)
    for path in ("/", "/static/app.js", "/static/app.css", "/static/icon.svg"):
        r = server.get(path)
        assert r.status == 200 and r.getheader("set-cookie") is None
        assert str(run_dir) not in r.text and PHOTO not in r.text
    assert server.get("/static/nothing.js").status == 404


def test_with_the_token_in_its_header_everything_works(run_dir, serve):
    server = serve(run_dir / "out")
    page = server.get("/")
    assert page.status == 200 and "veil review" in page.text
    assert page.getheader("content-security-policy") == CSP
    assert "'unsafe-inline'" not in CSP and "default-src 'none'" in CSP
    assert page.getheader("x-content-type-options") == "nosniff" and page.getheader("cache-control") == "no-store"
    run = server.json("/api/run")
    assert [f["relative_path"] for f in run["files"]] == [PHOTO]
    assert server.get("/static/app.js").getheader("content-type").startswith("text/javascript")
    picture = server.get("/api/files/0/input")
    assert picture.status == 200 and picture.body[:2] == b"\xff\xd8"


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:{other}", "127.0.0.1", "localhost.evil:{port}",
                                  "", "127.0.0.1.nip.io:{port}"])
def test_wrong_host_is_rejected(run_dir, serve, host):
    server = serve(run_dir / "out")
    r = server.get("/api/run", host=host.format(port=server.port, other=server.port + 1))
    assert r.status == 400 and "Host" in r.text


def test_localhost_and_ip_hosts_are_accepted(run_dir, serve):
    server = serve(run_dir / "out")
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        assert server.get("/api/run", host=host).status == 200


def _asgi(app, scope: dict) -> list[dict]:
    """The messages ``app`` sends for one request (no body), without a socket."""
    import asyncio

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False} if scope["type"] == "http" \
            else {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _scope(kind: str, host: str, token: str | None = None) -> dict:
    headers = [(b"host", host.encode())] + ([(b"x-veil-token", token.encode())] if token else [])
    return {"type": kind, "method": "GET", "path": "/api/run", "raw_path": b"/api/run", "query_string": b"",
            "headers": headers, "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
            "root_path": "", "http_version": "1.1", "asgi": {"version": "3.0"}}


def test_port_80_is_reached_by_the_host_browsers_send(run_dir):
    # Browsers leave out HTTP's own port from Host: a review on port 80 must take it so.
    from veil.review.app import create_app

    session = ReviewSession(run_dir / "out", originals=[run_dir / "in"])
    try:
        app = create_app(session, token="tok", port=80)
        for host, status in (("127.0.0.1", 200), ("127.0.0.1:80", 200), ("[::1]", 200), ("[::1]:80", 200),
                             ("localhost", 200), ("127.0.0.1:8080", 400), ("[::1]x", 400), ("evil.example", 400)):
            start = _asgi(app, _scope("http", host, "tok"))[0]
            assert start["status"] == status, host
        app.applier.stop()
    finally:
        session.close()


def test_websockets_are_refused(run_dir, serve):
    # None is served; an install with a websocket library must not open one past the checks.
    server = serve(run_dir / "out")
    sent = _asgi(server.app, _scope("websocket", f"127.0.0.1:{server.port}", server.token))
    assert [m["type"] for m in sent] == ["websocket.close"]


def test_the_listening_socket_asks_for_tcp_nodelay():
    # asyncio turns on TCP_NODELAY only for IPPROTO_TCP sockets: without it each response of a
    # kept-alive connection waited ~40 ms for a delayed ACK (video played at half speed).
    import socket

    from veil.review.serve import open_socket

    sock = open_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_thumbnails_are_small_pictures_of_the_output(run_dir, serve):
    import cv2
    import numpy as np

    server = serve(run_dir / "out")
    thumb = server.get("/api/files/0/thumb")
    assert thumb.status == 200 and thumb.getheader("content-type") == "image/jpeg"
    small = cv2.imdecode(np.frombuffer(thumb.body, np.uint8), cv2.IMREAD_COLOR)
    def off(which):  # how far the thumbnail is from that picture, shrunk alike
        full = cv2.imdecode(np.frombuffer(server.get(f"/api/files/0/{which}").body, np.uint8), cv2.IMREAD_COLOR)
        assert small.shape[1] == min(360, full.shape[1])
        resized = cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
        return np.abs(resized.astype(int) - small).mean()

    assert off("output") < 2 < off("input")  # the output's, never the original's
    assert server.get("/api/files/0/thumb/0").status == 404 and server.get("/api/files/9/thumb").status == 404
    assert server.get("/api/files/0/thumb", token=False).status == 401


@pytest.mark.parametrize("path", ["/static/../veil-report.json", "/static/%2e%2e/veil-report.json",
                                  "/static/..%2fveil-report.json", "/api/files/0/..%2f..%2fveil-report.json",
                                  "/etc/passwd", "//etc/passwd", "/api/files/0/%2Fetc%2Fpasswd",
                                  "/veil-report.json", "/static/", "/static/index.html.bak", "/api/files/7",
                                  "/api/files/0/secret", "/api/files/-1/input", "/api/files/0/input/3"])
def test_paths_from_the_client_reach_nothing(run_dir, serve, path):
    server = serve(run_dir / "out")
    r = server.get(path)
    assert r.status == 404, (path, r.status, r.text[:80])
    assert "schema" not in r.text and "root:" not in r.text


def test_state_changes_need_a_matching_origin(run, serve):
    server = serve(run / "out")
    body = _edit_body()
    assert server.put_edits(body, headers={}).status == 403
    assert server.put_edits(body, headers={"Origin": "http://evil.example"}).status == 403
    assert server.put_edits(body, headers={"Origin": server.origin, "Sec-Fetch-Site": "cross-site"}).status == 403
    assert server.request("POST", "/api/apply", headers={"Origin": "null"}).status == 403
    assert server.put_edits(body).status == 200


# -- edits ------------------------------------------------------------------------------------
def test_edits_are_validated_and_saved(run, serve):
    server = serve(run / "out")
    model = server.json("/api/files/0")
    item = next(it for it in model["items"] if it["kind"] == "detection")
    r = server.put_edits(_edit_body(removed=[item["ref"]], reviewed=[item["ref"]]))
    state = json.loads(r.body)
    assert state["states"] == {item["key"]: "removed"} and state["reviewed"] == [item["key"]]
    assert state["pending"] is True
    saved = json.loads((run / "out" / "veil-edits.json").read_text())
    assert saved["schema"] == "veil-edits/1"
    assert saved["files"][server.session.files[0].sha]["removed"] == [item["ref"]]
    # Edits that name another face (its box moved: other input, other run) are refused; nothing is saved.
    moved = dict(item["ref"], box=[v + 40 for v in item["ref"]["box"]])
    r = server.put_edits(_edit_body(removed=[moved]))
    assert r.status == 422 and "review this file again" in json.loads(r.body)["error"]
    assert json.loads((run / "out" / "veil-edits.json").read_text()) == saved
    r = server.put_edits({"removed": "all"})
    assert r.status == 422 and "expected a list" in json.loads(r.body)["error"]
    r = server.request("PUT", "/api/files/0/edits", body="not json", headers={"Origin": server.origin})
    assert r.status == 422


def test_a_second_tab_cannot_overwrite_edits_it_did_not_see(run, serve):
    # Two tabs on one file: each change carries the revision it was made on; a change made on a
    # stale one is refused (409) instead of silently dropping the other tab's edit.
    server = serve(run / "out")
    model = server.json("/api/files/0")
    a, b = [it for it in model["items"] if it["kind"] == "detection"][:2]
    base = model["revision"]
    first = json.loads(server.put_edits(_edit_body(removed=[b["ref"]], base=base)).body)  # tab B
    assert first["revision"] != base
    r = server.put_edits(_edit_body(removed=[a["ref"]], base=base))  # tab A, on what it loaded
    assert r.status == 409 and json.loads(r.body)["conflict"] is True and "another tab" in json.loads(r.body)["error"]
    saved = json.loads((run / "out" / "veil-edits.json").read_text())
    assert saved["files"][server.session.files[0].sha]["removed"] == [b["ref"]]
    r = server.put_edits(_edit_body(removed=[b["ref"], a["ref"]], base=first["revision"]))  # after reloading
    assert r.status == 200 and len(json.loads(r.body)["states"]) == 2


def test_edits_file_for_other_settings_is_refused(run, serve):
    server = serve(run / "out")
    item = next(it for it in server.json("/api/files/0")["items"] if it["kind"] == "detection")
    assert server.put_edits(_edit_body(reviewed=[item["ref"]])).status == 200
    path = run / "out" / "veil-edits.json"
    data = json.loads(path.read_text())
    data["detection"]["threshold"] = 0.5
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="threshold"):
        ReviewSession(run / "out")


def test_an_input_changed_since_the_run_is_not_shown(run, serve):
    (run / "in" / PHOTO).write_bytes((run / "in" / PHOTO).read_bytes() + b"\0")
    server = serve(run / "out")
    assert server.get("/api/files/0/input").status == 422
    assert "SHA-256 differs" in server.json("/api/files/0")["problem"]
    assert server.put_edits(_edit_body()).status == 422
    assert server.get("/api/files/0/output").status == 200  # the output is anonymized: still shown


def test_a_missing_report_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no veil-report.json"):
        ReviewSession(tmp_path)


# -- apply ------------------------------------------------------------------------------------
def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_apply_interrupted_leaves_the_run_as_it_was(run):
    session = ReviewSession(run / "out", originals=[run / "in"])
    item = next(it for it in session.file_model(0)["items"] if it["kind"] == "detection")
    session.set_edits(0, _edit_body(removed=[item["ref"]]))
    before = _snapshot(run / "out")
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 2  # stop in the middle of rendering

    with pytest.raises(Cancelled):
        apply_pending(session, cancelled=cancelled)
    assert _snapshot(run / "out") == before  # no partial output, no staging folder, same report
    assert session.needs_render(session.files[0])


def test_apply_renders_the_edited_file_and_updates_the_report(run):
    session = ReviewSession(run / "out", originals=[run / "in"])
    item = next(it for it in session.file_model(0)["items"] if it["kind"] == "detection")
    session.set_edits(0, _edit_body(removed=[item["ref"]]))
    old = (run / "out" / PHOTO).read_bytes()
    killed = run / "out" / ".veil-tmp-apply-999999-x"  # what a killed Apply leaves behind
    (killed / "out").mkdir(parents=True)
    (killed / "out" / PHOTO).write_bytes(old)
    result = apply_pending(session)
    assert result.rendered == [PHOTO] and not result.failed
    assert not killed.exists()  # removed under the folder's lock
    assert (run / "out" / PHOTO).read_bytes() != old
    entry = json.loads((run / "out" / "veil-report.json").read_text())["files"][0]
    assert entry["review"]["counts"]["removed"] == 1 and entry["input"] == PHOTO  # relative, as the run wrote it
    assert entry["output"] == PHOTO  # relative to OUTDIR
    assert "review" in (run / "out" / "veil-report.html").read_text()
    assert not session.needs_render(session.files[0])
    assert not [p for p in (run / "out").iterdir() if p.name.startswith(".") and p.name != JOURNAL_NAME]
    # Marks alone change the report, not the picture.
    written = (run / "out" / PHOTO).read_bytes()
    session.set_edits(0, _edit_body(removed=[item["ref"]], reviewed=[item["ref"]]))
    result = apply_pending(session)
    assert result.recorded == [PHOTO] and not result.rendered
    assert (run / "out" / PHOTO).read_bytes() == written
    entry = json.loads((run / "out" / "veil-report.json").read_text())["files"][0]
    assert entry["review"]["counts"]["reviewed"] == 1 and entry["review"]["counts"]["removed"] == 1


def test_detections_the_detector_doubts_are_listed_with_the_rest_not_as_needing_eyes(run):
    # On crowd photos most items were "not measured" low-confidence detections (hands, flowers):
    # covered anyway, so deleting them is tidying; "needs your eyes" drowned in them.
    report_path = run / "out" / "veil-report.json"
    report = json.loads(report_path.read_text())
    faces = report["files"][0]["verification"]["faces"]
    faces[0].update(status="unverifiable", unverifiable="low_confidence", evidence={"evidence": "low_confidence"})
    faces[1].update(status="unverifiable", unverifiable="face_too_small", evidence={"evidence": "too_small"})
    report_path.write_text(json.dumps(report))
    session = ReviewSession(run / "out", originals=[run / "in"])
    items = {tuple(it["box"]): it for it in session.file_model(0)["items"]}
    doubted, small = (items[tuple(round(v, 1) for v in faces[k]["box"])] for k in (0, 1))
    assert doubted["flags"] == ["unsure"] and not doubted["needs_eyes"]  # with everything else
    assert small["flags"] == ["unverifiable"] and small["needs_eyes"]  # a face not measured: eyes
    assert doubted["priority"] > small["priority"]
    overview = session.overview()["files"][0]
    assert overview["counts"]["unverifiable"] == 1 and overview["needs_eyes"]
    # once a person marked what needed eyes reviewed, the file no longer waits for them (listed first)
    eyes = [it["ref"] for it in session.file_model(0)["items"] if it["needs_eyes"]]
    session.set_edits(0, _edit_body(reviewed=eyes))
    assert not session.overview()["files"][0]["needs_eyes"]
    session.close()


def test_a_rerun_of_anonymize_keeps_what_a_person_changed_in_review(run, capsys):
    # Rerunning the same command into a reviewed folder (new photos added, or out of habit) redid
    # the edited files without the edits: a face a person had covered was bare again, exit 0.
    from veil.cli import main

    session = ReviewSession(run / "out", originals=[run / "in"])
    item = next(it for it in session.file_model(0)["items"] if it["kind"] == "detection")
    session.set_edits(0, _edit_body(removed=[item["ref"]]))
    assert apply_pending(session).rendered == [PHOTO]
    session.close()
    reviewed = (run / "out" / PHOTO).read_bytes()
    capsys.readouterr()
    assert main(["anonymize", str(run / "in"), "-o", str(run / "out")]) in (0, 3)
    err = capsys.readouterr().err
    assert "applying the edits made in veil review" in err
    assert "resuming: 1 of 1" in err  # Apply's journal line: kept as it is, not rendered again
    assert (run / "out" / PHOTO).read_bytes() == reviewed
    entry = json.loads((run / "out" / "veil-report.json").read_text())["files"][0]
    assert entry["review"]["counts"]["removed"] == 1
    # Marks alone (no pixel changed) are kept by a rerun too.
    session = ReviewSession(run / "out", originals=[run / "in"])
    session.set_edits(0, _edit_body(removed=[item["ref"]], reviewed=[item["ref"]]))
    assert apply_pending(session).recorded == [PHOTO]
    session.close()
    assert main(["anonymize", str(run / "in"), "-o", str(run / "out")]) in (0, 3)
    assert "resuming: 1 of 1" in capsys.readouterr().err
    entry = json.loads((run / "out" / "veil-report.json").read_text())["files"][0]
    assert entry["review"]["counts"]["reviewed"] == 1 and (run / "out" / PHOTO).read_bytes() == reviewed
    # Other detection settings cannot keep the edits: refused, nothing rewritten.
    assert main(["anonymize", str(run / "in"), "-o", str(run / "out"), "--threshold", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "edits made in veil review" in err and "Move it away" in err
    assert (run / "out" / PHOTO).read_bytes() == reviewed


def test_apply_after_another_run_rewrote_the_folder_is_refused_and_the_page_shows_the_new_run(run):
    # A page drawn before another veil run into the folder showed its old outputs as up to date, and
    # Apply rewrote the report from them: the report then named edits the outputs did not carry.
    from veil.cli import main
    from veil.review.session import Refused

    session = ReviewSession(run / "out", originals=[run / "in"])
    item = next(it for it in session.file_model(0)["items"] if it["kind"] == "detection")
    session.set_edits(0, _edit_body(removed=[item["ref"]]))
    (run / "out" / "veil-edits.json").rename(run / "edits-aside.json")  # the other run without them
    assert main(["anonymize", str(run / "in"), "-o", str(run / "out"), "--mode", "noise"]) in (0, 3)
    (run / "edits-aside.json").rename(run / "out" / "veil-edits.json")
    written = _snapshot(run / "out")
    with pytest.raises(Refused, match="changed since this page was drawn"):
        apply_pending(session)
    assert _snapshot(run / "out") == written  # nothing applied to what the page had not shown
    assert session.report["settings"]["mode"] == "noise"  # the page now shows the new run
    assert session.needs_render(session.files[0])  # the edits still wait for Apply: now it may
    assert apply_pending(session).rendered == [PHOTO]
    assert session.overview()["files"][0]["pending"] is False
    session.close()


def test_a_page_of_another_generation_saves_nothing_and_the_session_takes_the_new_runs_edits(run, serve):
    # A page open during another veil run kept the old edits (even a file the person had moved away)
    # and the old settings, and wrote them back; its file ids may name other files now.
    from veil.cli import main

    server = serve(run / "out")
    model = server.json("/api/files/0")
    item = next(it for it in model["items"] if it["kind"] == "detection")
    r = server.put_edits(dict(_edit_body(removed=[item["ref"]]), base=model["revision"]))
    assert r.status == 200
    revision = json.loads(r.body)["revision"]
    (run / "out" / "veil-edits.json").rename(run / "discarded.json")  # as the refusal says to
    assert main(["anonymize", str(run / "in"), "-o", str(run / "out"), "--threshold", "0.3"]) in (0, 3)
    overview = server.json("/api/run")
    assert overview["generation"] == 1 and overview["problem"] is None
    # The page's change, made on the old run's edits, is refused; nothing comes back from memory.
    r = server.put_edits(dict(_edit_body(removed=[item["ref"]], reviewed=[item["ref"]]), base=revision))
    assert r.status == 409 and "another veil run" in json.loads(r.body)["error"]
    assert not (run / "out" / "veil-edits.json").exists()
    # Made on the new run, a change is bound to its settings.
    model = server.json("/api/files/0")
    fresh = next(it for it in model["items"] if it["kind"] == "detection")
    r = server.put_edits(dict(_edit_body(reviewed=[fresh["ref"]]), base=model["revision"]))
    assert r.status == 200
    assert json.loads((run / "out" / "veil-edits.json").read_text())["detection"]["threshold"] == 0.3


def test_apply_over_http_reports_progress(run, serve):
    import time

    server = serve(run / "out")
    item = next(it for it in server.json("/api/files/0")["items"] if it["kind"] == "detection")
    assert server.json("/api/apply")["state"] == "idle"
    assert server.put_edits(_edit_body(removed=[item["ref"]])).status == 200
    assert server.json("/api/run")["files"][0]["pending"] is True
    r = server.request("POST", "/api/apply", headers={"Origin": server.origin})
    assert r.status == 202
    for _ in range(1200):
        state = server.json("/api/apply")
        if state["state"] != "running":
            break
        time.sleep(0.05)
    assert state["state"] == "done" and state["rendered"] == [PHOTO] and state["failed"] == []
    assert server.json("/api/run")["files"][0]["pending"] is False


# -- the command --------------------------------------------------------------------------------
@pytest.mark.parametrize("stop, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_veil_review_prints_the_url_first_and_stops_on_ctrl_c(run_dir, stop, code):
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "veil", "review", str(run_dir / "out"), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and b"veil review" in page.read()
        token = url.split("?token=")[1]
        ask = urllib.request.Request(url.split("?")[0] + "api/run", headers={"X-Veil-Token": token})
        with urllib.request.urlopen(ask, timeout=30) as run:
            assert json.loads(run.read())["files"][0]["relative_path"] == PHOTO
    finally:
        proc.send_signal(getattr(signal, stop))
        out, err = proc.communicate(timeout=30)
    # SIGTERM too shuts down cleanly (a running Apply cancelled), then the signal's exit code
    assert proc.returncode == code, err
    assert "review stopped" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [(["review", "/no/such/folder", "--no-browser"], "no veil-report.json"),
                                           (["review", "a", "b", "--no-browser"], "one OUTDIR"),
                                           (["review", ".", "--host", "example.org", "--no-browser"], "IP address")])
def test_veil_review_usage_errors(argv, message, capsys, tmp_path, photo_run):
    from veil.cli import main

    if argv[1] == ".":
        argv = ["review", str(photo_run / "out")] + argv[2:]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_originals_are_found_in_the_folders_given_and_only_with_their_sha256(run, tmp_path):
    # The report names inputs relative to their input folder, never by an absolute path.
    assert str(run) not in (run / "out" / "veil-report.json").read_text()
    session = ReviewSession(run / "out", originals=[tmp_path, run / "in"])  # the first folder lacks it
    f = session.files[0]
    assert f.problem is None, f.problem
    assert f.input == run / "in" / PHOTO and f.output == run / "out" / PHOTO
    assert session.picture(0, "input")[:2] == b"\xff\xd8"
    # Another file at the same path is not the original: it is never shown.
    (tmp_path / PHOTO).write_bytes((run / "in" / PHOTO).read_bytes()[:-10] + b"0123456789")
    other = ReviewSession(run / "out", originals=[tmp_path])
    with pytest.raises(Exception, match="changed since the run"):
        other.file(0, editable=True)
    assert "not found" in ReviewSession(run / "out", originals=[tmp_path / "nowhere"]).files[0].problem


def test_the_browser_gets_no_token_on_its_command_line(run_dir, tmp_path):
    # A browser's command line is readable by every local user (ps): it is given a page only this
    # user can read, which forwards to the URL with the token; the page goes when the review stops.
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    seen = tmp_path / "seen"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}.arg\nls -l "${{1#file://}}" > {seen}.mode\n'
                       f'cat "${{1#file://}}" > {seen}.page\n')
    browser.chmod(0o755)
    env = dict(os.environ, BROWSER=str(browser))
    proc = subprocess.Popen([sys.executable, "-m", "veil", "review", str(run_dir / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while not Path(f"{seen}.page").exists() or not Path(f"{seen}.page").read_text():
            assert time.monotonic() < deadline, "the browser was never started"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    arg = Path(f"{seen}.arg").read_text().strip()
    assert arg.startswith("file://") and "token" not in arg
    assert Path(f"{seen}.mode").read_text().startswith("-rw-------")
    assert url in Path(f"{seen}.page").read_text().replace("&amp;", "&")
    assert not Path(arg[len("file://"):]).parent.exists()  # gone with the review


def test_the_folders_edits_for_a_changed_input_or_a_broken_edits_file(run, capsys):
    # A reviewed input replaced by another version runs without the old version's edits (warned);
    # an edits file that is a link to nowhere is refused, not passed over (the review would be undone).
    import os

    from veil.cli import main

    session = ReviewSession(run / "out", originals=[run / "in"])
    item = next(it for it in session.file_model(0)["items"] if it["kind"] == "detection")
    session.set_edits(0, _edit_body(reviewed=[item["ref"]]))
    session.close()
    picture = (run / "in" / PHOTO).read_bytes()
    (run / "in" / PHOTO).write_bytes(picture + b"\0")  # another version, same name
    capsys.readouterr()
    assert main(["anonymize", str(run / "in"), "-o", str(run / "out")]) in (0, 3)
    assert "1 input changed since the review" in capsys.readouterr().err
    (run / "out" / "veil-edits.json").unlink()
    os.symlink(run / "nowhere.json", run / "out" / "veil-edits.json")
    written = (run / "out" / PHOTO).read_bytes()
    assert main(["anonymize", str(run / "in"), "-o", str(run / "out"), "--restart"]) == 2
    assert "cannot be applied" in capsys.readouterr().err and (run / "out" / PHOTO).read_bytes() == written


def test_apply_is_never_taken_for_another_run(run, monkeypatch):
    # The page asks for the run while Apply rewrites the report: that is not another veil run.
    import threading

    from veil.review import apply as apply_module

    session = ReviewSession(run / "out", originals=[run / "in"])
    item = next(it for it in session.file_model(0)["items"] if it["kind"] == "detection")
    session.set_edits(0, _edit_body(removed=[item["ref"]]))
    rewrite, seen, askers = apply_module._rewrite_report, [], []

    def rewrite_then_ask(s, entries):
        rewrite(s, entries)
        askers.append(threading.Thread(target=lambda: seen.append(session.overview()["generation"])))
        askers[0].start()
        askers[0].join(0.3)

    monkeypatch.setattr(apply_module, "_rewrite_report", rewrite_then_ask)
    assert apply_pending(session).rendered == [PHOTO]
    askers[0].join()
    assert seen == [0] and session.generation == 0
    session.close()


def test_the_file_list_names_outputs_earlier_runs_left_in_the_folder(run):
    # A rerun on some inputs only kept the others' outputs (earlier_runs) but the page never named them:
    # a person publishing the folder from the review would not know they are there.
    report_path = run / "out" / "veil-report.json"
    report = json.loads(report_path.read_text())
    report["earlier_runs"] = [{"input": "old clip.mp4", "relative_path": "old clip.mp4", "status": "ok",
                               "verification": {"verdict": "pass"}}]
    report_path.write_text(json.dumps(report))
    session = ReviewSession(run / "out", originals=[run / "in"])
    overview = session.overview()
    assert overview["earlier"] == [{"relative_path": "old clip.mp4", "verdict": "pass"}]
    assert len(overview["files"]) == len(report["files"])  # listed apart: not reviewable, not rewritten by Apply
    session.close()


@pytest.mark.parametrize("output", ["../victim/owned.jpg", "/tmp/owned.jpg", "linked/owned.jpg"])
def test_a_report_naming_an_output_outside_the_folder_is_neither_shown_nor_applied(run, output):
    # A report from elsewhere (a folder someone sent) named "../victim/owned.jpg": Apply replaced that
    # file, and the rewritten HTML report took a thumbnail from an original there.
    victim = run / "victim"
    victim.mkdir()
    (victim / "owned.jpg").write_bytes(b"PRECIOUS")
    (run / "out" / "linked").symlink_to(victim, target_is_directory=True)
    report_path = run / "out" / "veil-report.json"
    report = json.loads(report_path.read_text())
    report["files"][0]["output"] = output
    report_path.write_text(json.dumps(report))
    session = ReviewSession(run / "out", originals=[run / "in"])
    assert "outside the output folder" in session.overview()["files"][0]["problem"]
    with pytest.raises(Refused):
        session.set_edits(0, _edit_body())
    session.close()
    assert (victim / "owned.jpg").read_bytes() == b"PRECIOUS"


def test_edits_too_large_or_not_a_picture_are_refused_as_such(run, serve):
    from veil.review.app import MAX_EDITS_BYTES

    server = serve(run / "out")
    server.login()
    nan_box = _edit_body(added=[{"id": "a1", "kind": "face", "shape": "box",
                                 "keyframes": [{"frame": 0, "box": [float("nan"), 0, 10, 10]}]}])
    r = server.request("PUT", "/api/files/0/edits", body=json.dumps(nan_box),
                       headers={"Origin": server.origin, "Content-Type": "application/json"})
    assert r.status == 422, r.text
    deep = "[" * 100_000 + "]" * 100_000
    r = server.request("PUT", "/api/files/0/edits", body=deep, headers={"Origin": server.origin})
    assert r.status == 422 and "JSON" in r.text
    r = server.request("PUT", "/api/files/0/edits", body=b" " * (MAX_EDITS_BYTES + 1),
                       headers={"Origin": server.origin})
    assert r.status == 413
