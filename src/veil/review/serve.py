"""``veil review``: start the review app on a run (anonymizing first when given inputs)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path

from ..commands.signals import interruptible
from ..errors import ExitCode, Interrupted, UsageError, interrupted_exit_code

__all__ = ["add_parser", "run_review", "open_socket"]

DESCRIPTION = ("Check and correct every file before publishing, in a local web app: what needs a person's eyes "
               "first (possible missed faces, leaks, faces that could not be measured, tracks with gaps), "
               "originals and outputs side by side, delete false detections, draw missed faces, leave "
               "consenting faces visible, then Apply (re-render, verify, update the report). Edits are saved "
               "to OUTDIR/veil-edits.json; 'veil anonymize ... --edits' applies them without the app.")

EXIT_CODES_HELP = """exit codes:
  2  usage error (no report in OUTDIR, edits made for other settings, ...)
  129, 130, 143  stopped by SIGHUP, SIGINT (Ctrl-C: the usual way) or SIGTERM; a running
     Apply is cancelled and leaves the outputs as they were; edits are saved
  (with -o, the anonymize run's own exit code when it is a usage error)
"""


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``veil review`` on the CLI's subparsers."""
    review = sub.add_parser("review", help="check and correct a run in a local web app before publishing",
                            description=DESCRIPTION, epilog=EXIT_CODES_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    review.add_argument("paths", nargs="+", metavar="OUTDIR | INPUT",
                        help="a folder written by 'veil anonymize', or inputs to anonymize first (with -o)")
    review.add_argument("-o", "--output", metavar="OUTDIR", default=None,
                        help="anonymize the INPUTs into OUTDIR (default settings), then review it")
    review.add_argument("--originals", nargs="+", metavar="DIR", default=None,
                        help="folders holding the originals, as given to 'veil anonymize' (a folder, or a file's "
                             "folder); each is matched by its path there and its SHA-256 (default: the current "
                             "folder)")
    review.add_argument("--port", type=int, default=0, help="port to serve on (default: a free one)")
    review.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default: 127.0.0.1; any other shows the ORIGINALS to others)")
    review.add_argument("--no-browser", action="store_true", help="do not open a browser; only print the URL")
    return review


def open_browser(url: str, *, keep_s: float = 60.0) -> Path:
    """Open ``url`` in the browser without putting its token on a command line; returns the
    folder of the forwarding page (removed after ``keep_s`` seconds, or when the review stops).

    A browser is started with the page to open as an argument, which every local user can
    read (``ps``, ``/proc/PID/cmdline``) for as long as it runs. It is given instead a file only
    this user can read, which forwards to ``url``.
    """
    import html
    import tempfile
    import webbrowser

    folder = Path(tempfile.mkdtemp(prefix="veil-review-"))  # mode 0700
    page = folder / "open.html"
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f'<!doctype html><meta http-equiv="refresh" content="0;url={html.escape(url, quote=True)}">'
                f'<meta name="referrer" content="no-referrer"><title>veil review</title>')
    threading.Thread(target=webbrowser.open, args=(page.as_uri(),), daemon=True).start()
    remove = threading.Timer(keep_s, shutil.rmtree, (folder,), {"ignore_errors": True})
    remove.daemon = True
    remove.start()
    return folder


def open_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one); ``UsageError`` when it cannot be had."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        raise UsageError(f"--host must be an IP address, not {host!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on such sockets (and those accepted from
    # them); without it each response waits ~40 ms for a delayed ACK, halving the frames played.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # A restart on the same --port must not wait out the last run's closed connections (TIME_WAIT);
    # on POSIX this never lets two servers listen on one port.
    if os.name == "posix":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _url(host: str, port: int, token: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={token}"


def run_review(args) -> int:
    """Run ``veil review``; returns the exit code (130 / 143 / 129 once SIGINT / SIGTERM / SIGHUP stops it).

    The server shuts down gracefully on any stop signal: a running Apply is
    cancelled and leaves the outputs as they were, then the signal's exit code.
    """
    try:
        import uvicorn

        from .app import create_app
    except ImportError:
        raise UsageError("veil review needs the review extra: pip install 'veil[review]'") from None
    from .session import ReviewSession

    originals = args.originals
    if args.output is not None:
        from ..cli import main as veil_main

        code = veil_main(["anonymize", *args.paths, "-o", args.output])
        if code == ExitCode.USAGE:
            return code
        outdir = args.output
        # The report names each input relative to the folder it was found in.
        originals = originals or [p if Path(p).is_dir() else str(Path(p).parent) for p in args.paths]
    elif len(args.paths) != 1:
        raise UsageError("give one OUTDIR to review, or INPUT... -o OUTDIR to anonymize first")
    else:
        outdir = args.paths[0]
    session = ReviewSession(outdir, originals=originals)
    sock = open_socket(args.host, args.port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(32)
    app = create_app(session, token=token, port=port)
    url = _url(args.host, port, token)
    print(url, flush=True)  # the first line on stdout: scripts and tests read it
    if not ipaddress.ip_address(args.host).is_loopback:
        print(f"veil: warning: serving on {args.host}: anyone who can reach this machine and has the URL sees "
              "the ORIGINAL, un-anonymized pictures", file=sys.stderr)
    files = len(session.files)
    print(f"veil: reviewing {files} file{'s' * (files != 1)} of {outdir}; Ctrl-C stops", file=sys.stderr)
    opener = None if args.no_browser else open_browser(url)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=5))
    code = ExitCode.OK
    try:
        # uvicorn shuts down on the signal, then sends it again with the handlers it found:
        # interruptible's turn each of them into Interrupted here (SIGTERM's default would
        # kill the process before a running Apply is cancelled).
        with interruptible():
            server.run(sockets=[sock])
    except Interrupted as exc:
        code = exc.exit_code
    except KeyboardInterrupt:  # a caller outside the main thread
        code = interrupted_exit_code(signal.SIGINT)
    finally:
        app.applier.stop()
        session.close()
        sock.close()
        if opener is not None:
            shutil.rmtree(opener, ignore_errors=True)
    print("veil: review stopped; " + (f"edits are saved in {session.edits_path}" if session.edits_path.exists()
                                       else "no edits were made"), file=sys.stderr)
    return code
