"""The ``veil`` command.

``main(argv) -> int`` runs in-process (tests call it directly). Errors are one
line on stderr, ``veil: <file>: <reason>``; progress goes to stderr only when it
is a terminal; ``--json`` prints the summary as JSON on stdout. Exit codes are
:class:`veil.errors.ExitCode`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from ._version import __version__
from .errors import ExitCode, UsageError

__all__ = ["main", "build_parser"]

EXIT_CODES_HELP = """exit codes:
  0  every file processed (and verified, where verification ran)
  1  some file failed; it has no output, the others were processed
  2  usage error
  3  verification found a face that still matches its original, or a residual face
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 itself; keep it one line
        self.exit(ExitCode.USAGE, f"veil: {message} (see 'veil {self.prog.split()[-1]} --help')\n"
                  if " " in self.prog else f"veil: {message} (see 'veil --help')\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="veil", description="Anonymize people in photos and video, irreversibly, and prove it.",
                     epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"veil {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    an = sub.add_parser("anonymize", help="cover every face in photos and videos",
                        description="Cover every face in photos and videos; write copies into OUTDIR, "
                                    "mirroring the input tree, with a report. Inputs are never modified.",
                        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    an.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, videos or folders (recursive)")
    an.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created)")
    an.add_argument("--mode", default="fill", choices=["fill", "noise", "pixelate", "blur"],
                    help="how faces are covered (default: fill; blur and pixelate are reversible)")
    an.add_argument("--audio", default="drop", choices=["drop", "keep"],
                    help="video audio: drop (default; voices identify people) or keep (stream copy)")
    an.add_argument("--threshold", type=float, default=None, help="detector confidence (default: 0.1)")
    an.add_argument("--min-face", type=float, default=None, metavar="PX",
                    help="ignore faces smaller than PX pixels (default: 0, keep all)")
    an.add_argument("--scale", type=float, default=None, dest="detect_scale",
                    help="detection resolution factor for the whole-frame pass (default: 1)")
    an.add_argument("--no-tiles", action="store_true", help="skip the tiled small-face pass (faster, misses small faces)")
    an.add_argument("--tile-every", type=int, default=None, metavar="N",
                    help="video: run the small-face tiles on every N-th frame, at shot changes, and on "
                         "every frame where they find small faces the whole-frame pass misses "
                         "(faster, loses some tiny faces; default: 1, every frame)")
    an.add_argument("--pad-frames", type=int, default=None, metavar="N",
                    help="video: keep each face covered N frames before and after it is seen (default: 5)")
    an.add_argument("--region-scale", type=float, default=None,
                    help="head region size relative to the face box (default: 1.6)")
    shape = an.add_mutually_exclusive_group()
    shape.add_argument("--ellipse", dest="region_shape", action="store_const", const="ellipse",
                       help="cover an ellipse around each head (default)")
    shape.add_argument("--box", dest="region_shape", action="store_const", const="box",
                       help="cover a box around each head")
    an.add_argument("--crf", type=int, default=None, help="video quality, H.264 CRF (default: 18; lower is better)")
    an.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)
    an.add_argument("--jobs", type=_positive_int, default=1, metavar="N", help="files processed in parallel")
    an.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                    help="CPU threads for detection (default: one per CPU, shared among --jobs)")
    an.add_argument("--no-verify", action="store_true", help="skip verification of the outputs")
    an.add_argument("--masks", action="store_true",
                    help="also write the anonymized region as PNG masks under OUTDIR/masks/")
    an.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    an.add_argument("--edits", metavar="FILE", default=None,
                    help="apply a person's edits (veil-edits.json from 'veil review'); inputs are matched by SHA-256")

    ve = sub.add_parser("verify", help="check an anonymized file against its original (any tool's output)",
                        description="Detect faces on ORIGINAL and check the same places in ANONYMIZED: "
                                    "does each face still match its original after reconstruction attacks, "
                                    "and is any face still detectable? Works on other tools' outputs.",
                        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ve.add_argument("original", metavar="ORIGINAL")
    ve.add_argument("anonymized", metavar="ANONYMIZED")
    ve.add_argument("--threshold", type=float, default=None, help="detector confidence (default: 0.1)")
    ve.add_argument("--json", action="store_true", help="print the result as JSON on stdout")

    au = sub.add_parser("audit", help="list what identifies people in files (faces, metadata, audio)",
                        description="Report, without writing any media, what in each file identifies people: "
                                    "faces and how recognizable they are, metadata (GPS, device, serials, "
                                    "times, names, thumbnails), audio streams.")
    au.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, videos or folders (recursive)")
    au.add_argument("--json", action="store_true", help="print the results as JSON on stdout")

    from .review.serve import add_parser as add_review_parser

    add_review_parser(sub)
    return parser


def _config_from(args):
    from .config import Config

    options = {"mode": args.mode, "audio": args.audio, "verify": not args.no_verify,
               "write_masks": args.masks, "tiles": not args.no_tiles}
    for name in ("threshold", "min_face", "detect_scale", "tile_every", "pad_frames", "region_scale",
                 "region_shape", "crf", "seed", "threads"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    return Config(**options)


class _Progress:
    """One status line on stderr, only when stderr is a terminal."""

    def __init__(self, total_files: int) -> None:
        self.enabled = sys.stderr.isatty()
        self.total = total_files
        self.done = 0
        self._last = 0.0

    def file(self, name: str):
        def update(done: int, total: int | None) -> None:
            now = time.monotonic()
            if not self.enabled or now - self._last < 0.2:
                return
            self._last = now
            share = f" {100 * done // total:3d}%" if total else f" {done} frames"
            sys.stderr.write(f"\r\x1b[K[{self.done + 1}/{self.total}] {name}{share}")
            sys.stderr.flush()
        return update

    def finish_file(self) -> None:
        self.done += 1
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _run_anonymize(args) -> int:
    from .anonymize import REVERSIBLE_WARNING
    from .pipeline import plan_run, run_file
    from .report import FileReport, RunReport, write_json

    config = _config_from(args)
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"output {outdir} exists and is not a folder")
    started = time.perf_counter()
    jobs, plan_errors, skipped = plan_run(args.inputs, outdir, masks=args.masks, keep_audio=args.audio == "keep")
    if args.edits:  # a person's edits (veil review), matched to the inputs by SHA-256
        from .edits import attach_edits

        jobs, edit_errors, edit_warnings = attach_edits(jobs, args.edits, config)
        plan_errors = plan_errors + edit_errors
        for message in edit_warnings:
            print(f"veil: warning: {message}", file=sys.stderr)
    run = RunReport(command="veil anonymize", settings=config.to_dict(), skipped=skipped,
                    verified=config.verify)
    if config.reversible:
        message = REVERSIBLE_WARNING.format(mode=config.mode.value)
        run.warnings.append(message)
        print(f"veil: warning: {message}", file=sys.stderr)
    for path, message in plan_errors:
        report = FileReport(input=path, output=None, kind="unknown")
        report.fail(message)
        run.files.append(report)
        print(f"veil: {path}: {message}", file=sys.stderr)

    progress = _Progress(len(jobs))
    outdir.mkdir(parents=True, exist_ok=True)

    def record(report):
        run.files.append(report)
        progress.finish_file()
        if not report.ok:
            print(f"veil: {report.input}: {report.error}", file=sys.stderr)

    if args.jobs > 1 and len(jobs) > 1:
        import concurrent.futures as cf
        import multiprocessing

        # spawn: OpenCV and PyAV threads do not survive fork reliably.
        with cf.ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_worker_init) as pool:
            if not config.threads:  # share the CPUs among the worker processes
                from .pipeline import usable_cpus

                config = config.replace(threads=max(1, usable_cpus() // args.jobs))
            futures = [pool.submit(run_file, job, config) for job in jobs]
            for job, future in zip(jobs, futures):
                try:
                    record(future.result())
                except Exception as exc:  # a worker died: that file failed, the run goes on
                    report = FileReport(input=str(job.src), output=None, kind="unknown")
                    report.fail(f"worker failed: {type(exc).__name__}: {exc}")
                    record(report)
    else:
        for job in jobs:
            record(run_file(job, config, progress=progress.file(job.rel.name)))

    run.seconds = time.perf_counter() - started
    report_path = write_json(run, outdir / "veil-report.json")
    html_path = _write_html(run, outdir)
    summary = run.summary()
    if args.json:
        print(json.dumps(dict(summary, report=str(report_path), html=str(html_path) if html_path else None)))
    else:
        _print_summary(summary, report_path, html_path)
    if summary["failed"]:
        return ExitCode.FILE_ERROR
    if summary["leaks"]:
        return ExitCode.LEAK
    return ExitCode.OK


def _write_html(run, outdir: Path):
    try:
        from .report.html import write_html
    except ImportError:
        return None
    return write_html(run, outdir / "veil-report.html")


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core; no oversubscription


def _print_summary(summary: dict, report_path: Path, html_path) -> None:
    parts = [f"{summary['files']} file{'s' * (summary['files'] != 1)}", f"{summary['ok']} ok"]
    if summary["failed"]:
        parts.append(f"{summary['failed']} failed")
    if summary["skipped"]:
        parts.append(f"{summary['skipped']} skipped (not media)")
    verdict = summary["verdict"]
    if summary.get("faces_verified") or summary.get("faces_unverifiable"):
        verdict += (f" ({summary['faces_verified']} faces/tracks measured, "
                    f"{summary['faces_unverifiable']} not measurable: see the report)")
    line = (f"veil: {', '.join(parts)}; {summary['faces']} face{'s' * (summary['faces'] != 1)} covered; "
            f"{summary['seconds']:.1f} s; {verdict}")
    print(line, file=sys.stderr)
    for warning in summary["warnings"]:
        print(f"veil: warning: {warning}", file=sys.stderr)
    print(f"veil: report: {report_path}" + (f" and {html_path}" if html_path else ""), file=sys.stderr)


def _run_verify(args) -> int:
    from .compare import verify_pair
    from .config import Config
    from .errors import VeilError

    config = Config(**({"threshold": args.threshold} if args.threshold is not None else {}))
    try:
        record = verify_pair(args.original, args.anonymized, config)
    except VeilError as exc:
        print(f"veil: {args.anonymized}: {exc}", file=sys.stderr)
        return ExitCode.FILE_ERROR
    v = record["verification"]
    if args.json:
        print(json.dumps(record, default=str))
    else:
        _print_verification(record)
    return ExitCode.LEAK if v["verdict"] == "leak" else ExitCode.OK


def _print_verification(record: dict) -> None:
    v = record["verification"]
    counts = v.get("counts", {})
    head = {"pass": "verified: no face matches its original, even after the strongest attack",
            "leak": "LEAK: do not publish",
            "unverifiable": "unverifiable: no face could be measured"}.get(v["verdict"], v["verdict"])
    print(f"veil: {record['anonymized']}: {head} ({counts.get('faces', 0)} faces checked, "
          f"{counts.get('leak', 0)} leak, {counts.get('unverifiable', 0)} unverifiable, "
          f"threshold {v.get('threshold')})", file=sys.stderr)
    for face in v.get("faces", []):
        if face.get("leaks"):
            where = f"track {face['track']}" if face.get("track") is not None else "face"
            if face.get("frame") is not None:
                where += f" frame {face['frame']}"
            print(f"  {where} {face.get('box')}: distance {face.get('distance')} < {face.get('threshold')} "
                  f"(margin {face.get('margin')}), closest attack {face.get('strongest_attack')}", file=sys.stderr)
    for r in v.get("residual", []):
        frame = f" frame {r['frame']}" if r.get("frame") is not None else ""
        print(f"  possible missed face{frame} at {r.get('box')} (score {r.get('score')})", file=sys.stderr)
    for w in record.get("warnings", []):
        print(f"veil: warning: {w}", file=sys.stderr)


def _run_audit(args) -> int:
    from .audit import audit_file
    from .errors import VeilError
    from .pipeline import _walk

    paths = []
    for item in map(Path, args.inputs):
        paths.extend(_walk(item, Path("/nonexistent")) if item.is_dir() else [item])
    results, failed = [], 0
    for path in paths:
        try:
            results.append(audit_file(path))
        except VeilError as exc:
            failed += 1
            results.append({"input": str(path), "error": str(exc)})
            print(f"veil: {path}: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps({"files": results}, default=str))
    else:
        for r in results:
            if "error" not in r:
                _print_audit(r)
    return ExitCode.FILE_ERROR if failed else ExitCode.OK


def _print_audit(r: dict) -> None:
    faces = r["faces"]
    out = [f"{r['input']}: {r['risk'].upper()} risk ({r['kind']})"]
    if faces:
        levels = {lv: sum(1 for f in faces if f["level"] == lv) for lv in ("high", "medium", "low")}
        widest = max(f["width"] for f in faces)
        where = f" in {r['sampled_frames']} sampled frames" if "sampled_frames" in r else ""
        out.append(f"  faces: {len(faces)}{where}; recognizable: {levels['high']} likely, {levels['medium']} "
                   f"possibly, {levels['low']} unlikely; largest {widest:.0f} px")
    else:
        out.append("  faces: none found")
    for f in r["metadata"].get("findings", []):
        out.append(f"  {f['risk']:<6} {f['kind']}: {f['field']} = {str(f.get('value'))[:80]}")
    print("\n".join(out))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (never calls ``sys.exit`` itself)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        if args.command == "anonymize":
            return int(_run_anonymize(args))
        if args.command == "verify":
            return int(_run_verify(args))
        if args.command == "audit":
            return int(_run_audit(args))
        if args.command == "review":
            from .review.serve import run_review

            return int(run_review(args))
    except UsageError as exc:
        print(f"veil: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        print("veil: interrupted; no partial output was left", file=sys.stderr)
        return 130
    parser.print_help(sys.stderr)
    return ExitCode.USAGE


def console_main() -> None:  # pragma: no cover - the installed `veil` script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
