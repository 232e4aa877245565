#!/usr/bin/env python
"""veil review: seek latency, time to a usable page, Apply time against the anonymize time.

Per clip (``whitehouse``: the White House clip, 640x360, 275 frames;
``1080p``: the same clip upscaled to 1920x1080, built as bench/throughput.py
builds it), one ``veil anonymize`` run (defaults, verification on) into a
scratch folder, then:

* **seek**: frames in random order (fixed seed, no frame twice), each from a
  cold :class:`veil.media.video.FrameSource` cache: (a) ``decode``: the frame
  as RGB, from the input and from veil's output (its GOPs are x264's default,
  up to 250 frames); (b) ``served``: the page's request, HTTP GET of the JPEG
  from a running ``veil review`` server (JPEG cache, read-ahead and all, as
  the page gets it; every frame asked once, so no cache hit but read-ahead).
  Median, 95th percentile and max, in ms.
* **stepping**: frames 0, 1, 2, ... in order over one kept-alive connection, as the
  page asks them while a person steps or plays (read-ahead serves most): ms per frame;
  and **playback** in Chromium: frames shown in 4 s of the page's play button.
* **startup**: ``veil review OUTDIR --no-browser`` as a subprocess: seconds to
  the URL on stdout, to the run's JSON, to the first frame's JPEG, and (with
  Chromium at /usr/bin/chromium and Playwright) to the file's page showing its
  overlay and first frame in a headless browser ("usable page"), median of
  ``--startups`` starts.
* **apply**: one track removed (one detection for a photo), then
  ``veil.review.apply_pending`` (re-render, verify, rewrite the report),
  against the wall time of the ``veil anonymize`` run of the same clip,
  interleaved (anonymize, apply, anonymize, apply ...; median of
  ``--repeats``). The ratio is what the machine's load cannot move much.

Usage::

    nice -n 10 .venv/bin/python bench/review_latency.py                  # both clips
    .venv/bin/python bench/review_latency.py --clips whitehouse --seeks 40 --repeats 1   # quick

Writes ``bench/out/review_latency.json``; prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
from throughput import make_clip  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


def _stats(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"n": len(ms), "median_ms": round(float(np.median(ms)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(float(ms.max()), 1)}


def anonymize(clip: Path, outdir: Path) -> float:
    from veil.cli import main

    t = time.perf_counter()
    code = main(["anonymize", str(clip), "-o", str(outdir)])
    if code not in (0, 3):
        raise SystemExit(f"veil anonymize failed on {clip} (exit {code})")
    return time.perf_counter() - t


def seek_decode(path: Path, frames: list[int], frame_count: int) -> dict:
    from veil.media.video import FrameSource

    times = []
    with FrameSource(path, max_pixels=1 << 40, expected_frames=frame_count, cache_bytes=0) as source:
        for k in frames:
            t = time.perf_counter()
            source.frame(k)
            times.append(time.perf_counter() - t)
        keys = len(source._keys)
    return dict(_stats(times), key_frames=keys, seekable=True)


class Served:
    """A ``veil review`` subprocess; requests carry its token in a header, as the page's do."""

    def __init__(self, outdir: Path, originals: Path) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "veil", "review", str(outdir), "--no-browser",
                                      "--originals", str(originals)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        self.t_url = time.perf_counter() - self.started
        if not self.url.startswith("http"):
            self.stop()
            raise SystemExit(f"veil review printed no URL: {self.proc.stderr.read()[-400:]}")
        self.base = self.url.split("?")[0]
        self.token = self.url.split("?token=")[1]
        with urllib.request.urlopen(self.url, timeout=60) as r:
            r.read()

    def get(self, path: str) -> bytes:
        ask = urllib.request.Request(self.base + path.lstrip("/"), headers={"X-Veil-Token": self.token})
        with urllib.request.urlopen(ask, timeout=120) as r:
            return r.read()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def seek_served(outdir: Path, originals: Path, frames: list[int], which: str) -> dict:
    server = Served(outdir, originals)
    try:
        times = []
        for k in frames:
            t = time.perf_counter()
            server.get(f"/api/files/0/{which}/{k}")
            times.append(time.perf_counter() - t)
    finally:
        server.stop()
    return _stats(times)


def step_served(outdir: Path, originals: Path, count: int) -> dict:
    """Frames 0..count-1 in order on one kept-alive connection (the page's stepping and playing)."""
    import http.client
    from urllib.parse import urlsplit

    server = Served(outdir, originals)
    try:
        where = urlsplit(server.base)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
        times = []
        for k in range(count):
            t = time.perf_counter()
            conn.request("GET", f"/api/files/0/output/{k}", headers={"X-Veil-Token": server.token})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"frame {k}: HTTP {response.status}")
            times.append(time.perf_counter() - t)
        conn.close()
    finally:
        server.stop()
    return _stats(times)


def _file_page(browser, server: Served, ready: str):
    """A Chromium page on the first file's frame 0, once the JavaScript ``ready`` holds."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(server.url)
    page.goto(server.base + "#/file/0/f0")
    deadline = time.monotonic() + 120
    while not page.evaluate(ready):  # the page's CSP forbids the eval-based waits
        if time.monotonic() > deadline:
            raise SystemExit("the page never became usable")
        page.wait_for_timeout(10)
    return page


def playback(outdir: Path, originals: Path, browser, seconds: float = 4.0) -> dict:
    """Frames the page shows in ``seconds`` of its play button (Chromium), from frame 0."""
    server = Served(outdir, originals)
    try:
        page = _file_page(browser, server, "document.body.dataset.shown === '0'")
        page.click("#play")
        page.wait_for_timeout(seconds * 1000)
        shown = int(page.evaluate("document.body.dataset.shown"))
        page.close()
    finally:
        server.stop()
    return {"seconds": seconds, "frames": shown, "fps": round(shown / seconds, 1)}


def startup(outdir: Path, originals: Path, browser) -> dict:
    t0 = time.perf_counter()
    server = Served(outdir, originals)
    try:
        rec = {"url_s": server.t_url}
        json.loads(server.get("/api/run"))
        rec["run_json_s"] = time.perf_counter() - t0
        server.get("/api/files/0/input/0")
        rec["first_frame_s"] = time.perf_counter() - t0
    finally:
        server.stop()
    if browser is not None:
        t0 = time.perf_counter()
        server = Served(outdir, originals)
        try:
            page = _file_page(browser, server, "document.body.dataset.shown === '0' && "
                                               "!!document.querySelector('#overlay [data-key]')")
            rec["usable_page_s"] = time.perf_counter() - t0
            page.close()
        finally:
            server.stop()
    return rec


def apply_once(outdir: Path, originals: Path, which: int) -> tuple[float, list]:
    """Remove the ``which``-th track (another one each repeat, so each Apply re-renders) and Apply."""
    from veil.review import ReviewSession, apply_pending

    session = ReviewSession(outdir, originals=[originals])
    try:
        items = [it for it in session.file_model(0)["items"] if it["kind"] in ("track", "detection")]
        body = {"added": [], "removed": [items[which % len(items)]["ref"]], "left_visible": [], "extended": [],
                "reviewed": []}
        session.set_edits(0, body)
        t = time.perf_counter()
        result = apply_pending(session)
        seconds = time.perf_counter() - t
    finally:
        session.close()
    if result.failed or not result.rendered:
        raise SystemExit(f"apply did not render: {result}")
    return seconds, result.rendered


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default="whitehouse,1080p", help="comma list of: whitehouse, 1080p, or paths")
    ap.add_argument("--seeks", type=int, default=60, help="random frames per measurement")
    ap.add_argument("--startups", type=int, default=3, help="starts of veil review per clip (median)")
    ap.add_argument("--repeats", type=int, default=2, help="anonymize/apply pairs per clip (median)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=B.OUT / "review_latency.json")
    args = ap.parse_args(argv)

    clips = {}
    for c in [c.strip() for c in args.clips.split(",") if c.strip()]:
        if c == "whitehouse":
            clips[c] = B.WHITE_HOUSE
        elif c == "1080p":
            clips[c] = make_clip("whitehouse_1920x1080", make_clip("whitehouse", B.WHITE_HOUSE, size=(1920, 1080),
                                                                   frames=None), size=None, frames=None)
        else:
            clips[Path(c).stem] = Path(c)
    browser = pw = None
    if CHROMIUM.exists():
        try:
            from playwright.sync_api import sync_playwright

            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        except ImportError:
            pass
    results = {"machine": B.machine_info(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
               "command": " ".join(map(shlex.quote, [Path(sys.executable).name, *sys.argv])), "clips": {}}
    work = Path(tempfile.mkdtemp(prefix="veil-review-bench-"))
    seek_rows, start_rows, apply_rows, play_rows = [], [], [], []
    try:
        for name, clip in clips.items():
            print(f"## {name}: {clip}", file=sys.stderr, flush=True)
            outdir = work / name
            first_anonymize = anonymize(clip, outdir)
            entry = json.loads((outdir / "veil-report.json").read_text())["files"][0]
            n = int(entry["frames"])
            frames = random.Random(args.seed).sample(range(n), min(args.seeks, n))
            rec = {"frames": n, "size": f"{entry['media']['width']}x{entry['media']['height']}",
                   "decode_input": seek_decode(clip, frames, n),
                   "decode_output": seek_decode(outdir / clip.name, frames, n),
                   "served_input": seek_served(outdir, clip.parent, frames, "input"),
                   "served_output": seek_served(outdir, clip.parent, frames, "output")}
            rec["stepping_output"] = step_served(outdir, clip.parent, min(n, 60))
            if browser is not None:
                rec["playback"] = playback(outdir, clip.parent, browser)
                play_rows.append([f"{name} {rec['size']}", rec["playback"]["frames"], rec["playback"]["fps"]])
            for key in ("decode_input", "decode_output", "served_input", "served_output", "stepping_output"):
                s = rec[key]
                extra = f" ({s['key_frames']} key frames)" if "key_frames" in s else ""
                seek_rows.append([f"{name} {rec['size']}", key.replace("_", ", ") + extra, s["n"], s["median_ms"],
                                  s["p95_ms"], s["max_ms"]])
            starts = [startup(outdir, clip.parent, browser) for _ in range(args.startups)]
            rec["startup"] = starts
            med = {k: B.median([s[k] for s in starts if k in s]) for k in starts[0]}
            rec["startup_median_s"] = med
            start_rows.append([name, f"{med['url_s']:.2f}", f"{med['run_json_s']:.2f}", f"{med['first_frame_s']:.2f}",
                               f"{med['usable_page_s']:.2f}" if "usable_page_s" in med else "-"])
            anon, app = [first_anonymize], []
            for rep in range(args.repeats):
                seconds, _ = apply_once(outdir, clip.parent, rep)
                app.append(seconds)
                if rep + 1 < args.repeats:
                    anon.append(anonymize(clip, work / f"{name}-again{rep}"))
                print(f"  apply {seconds:.1f} s, anonymize {anon[-1]:.1f} s", file=sys.stderr, flush=True)
            rec["anonymize_s"], rec["apply_s"] = anon, app
            ratio = B.median(app) / B.median(anon)
            apply_rows.append([name, f"{B.median(anon):.1f}", f"{B.median(app):.1f}", f"{ratio:.2f}x", len(app)])
            results["clips"][name] = rec
    finally:
        if browser is not None:
            browser.close()
            pw.stop()
    results["load_end"] = B.loadavg()
    B.write_json(args.out, results)
    print("\n### Seek latency (ms; random frames, each asked once)\n")
    print(B.md_table(["clip", "what", "frames", "median", "p95", "max"], seek_rows))
    if play_rows:
        print("\n### Playback in Chromium (the play button, 4 s from frame 0)\n")
        print(B.md_table(["clip", "frames shown", "frames/s"], play_rows))
    print("\n### veil review OUTDIR: seconds from start (median of %d)\n" % args.startups)
    print(B.md_table(["clip", "URL printed", "run JSON", "first frame JPEG", "usable page (Chromium)"], start_rows))
    print("\n### Apply (one track removed) against veil anonymize of the same clip (wall s, median)\n")
    print(B.md_table(["clip", "anonymize", "apply", "apply / anonymize", "repeats"], apply_rows))
    print(f"\nraw: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
