"""The labelling server against idle, trickling connections: is a new request still answered?

    python benchmarks/hostile_network.py --out benchmarks/results/hostile_network

An attacker without a token opens ``N`` connections to the server, each sending the start of a request
(``GET /api/queue HTTP/1.1``, one header) and then one more byte every ``--every`` seconds, so that
none is ever idle long enough for waitress's ``channel_timeout``. Meanwhile a person makes a new
request (``GET /api/queue`` with their token, on a new connection), three times, two seconds apart; each
is timed, and counted as not answered after ``--probe-timeout`` seconds. After ``--late`` seconds from
the attack's start, the connections the server has closed are counted and the person asks once more.

The same app (the labelling server's, over a real-mode run of sklearn's digits) is served by three
listeners, each in its own process:

- ``waitress as before``: ``waitress.create_server`` with the settings autoal used before (its default
  ``connection_limit`` of 100, ``channel_timeout=60``, ``select``);
- ``waitress, limit 1000 + poll``: only waitress's settings changed (``connection_limit=1000``,
  ``asyncore_use_poll=True``);
- ``autoal serve``: :func:`autoal.server.listener.create_listener`, what ``autoal serve`` runs (a 15 s
  deadline per request, idle connections evicted at the limit, ``poll``, the limit from the fd allowance).

Writes ``results.json`` and ``results.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("waitress as before", "waitress, limit 1000 + poll", "autoal serve")


def make_run(folder: Path, n_images: int) -> tuple:
    """A real-mode run over ``n_images`` of sklearn's digits (5 labels per class given) with two page annotators;
    returns ``(run_dir, alice's token)``."""
    import autoal
    from autoal.annotation.annotators import PageAnnotator
    from autoal.data.datasets import build_digits
    from autoal.rounds.loop import start_session
    from autoal.server import issue_links

    frame = autoal.load_manifest(build_digits()).iloc[:n_images].copy()
    frame.loc[frame.groupby("label").cumcount() >= 5, "label"] = np.nan
    run_dir = folder / "run"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    session = start_session(frame, learner="fast", annotators=[PageAnnotator("alice"), PageAnnotator("bob")],
                            batch_size=10, n_rounds=3, holdout_fraction=0, output_dir=run_dir, verbose=False,
                            simulate=False, relabel=False)
    session.advance()  # round 0 trained on the given labels
    session.advance()  # round 1's batch dealt to alice and bob
    session.close()
    links = {name: link for _, name, link in issue_links(run_dir, "http://127.0.0.1")}
    return run_dir, links["alice"].split("token=")[1]


def serve(variant: str, run_dir: str, ready) -> None:
    """Serve the run's app with ``variant``'s listener (in a child process); put the port on ``ready``."""
    import waitress

    from autoal.server.app import create_app
    from autoal.server.json_body import MAX_BODY
    from autoal.server.labelling import RunFacts
    from autoal.server.listener import create_listener

    app = create_app(RunFacts(run_dir))
    if variant == "waitress as before":
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8, ident="autoal",
                                        clear_untrusted_proxy_headers=True, channel_timeout=60)
    elif variant == "waitress, limit 1000 + poll":
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8, ident="autoal",
                                        clear_untrusted_proxy_headers=True, channel_timeout=60,
                                        connection_limit=1000, asyncore_use_poll=True)
    else:
        server = create_listener(app, host="127.0.0.1", port=0, threads=8, max_body=MAX_BODY)
    ready.put((server.effective_port, getattr(server.adj, "connection_limit", None)))
    server.run()


class Tricklers:
    """``n`` connections, each having sent the start of a request, sending one more byte every ``every`` s."""

    def __init__(self, port, n, every):
        self.sockets = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /api/queue HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            s.setblocking(False)
            self.sockets.append(s)
        self.every, self.closed = every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self):
        while not self._stop.wait(self.every):
            self.count_closed(send=True)

    def count_closed(self, send=False) -> int:
        """Connections the server closed so far (seen as end of file, a reset, or a failed send)."""
        for s in list(self.sockets):
            try:
                if send:
                    s.send(b"X")
                if s.recv(1) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                continue  # open, nothing to read
            except OSError:
                self.sockets.remove(s)
                s.close()
                self.closed += 1
        return self.closed

    def close(self):
        self._stop.set()
        self._thread.join(10)
        for s in self.sockets:
            s.close()


def probe(port, token, timeout) -> float | None:
    """Seconds for a new connection's ``GET /api/queue`` to be answered, or None after ``timeout``."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/queue?token={token}", timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError, socket.timeout):
        return None
    return time.monotonic() - started


def measure(variant, n, run_dir, token, args) -> dict:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    child = context.Process(target=serve, args=(variant, str(run_dir), ready), daemon=True)
    child.start()
    try:
        port, limit = ready.get(timeout=120)
        assert probe(port, token, 30) is not None, "the server does not answer before the attack"
        started = time.monotonic()
        tricklers = Tricklers(port, n, args.every)
        opened = time.monotonic() - started
        try:
            time.sleep(3)
            early = []
            for _ in range(3):
                early.append(probe(port, token, args.probe_timeout))
                time.sleep(2)
            time.sleep(max(0.0, args.late - (time.monotonic() - started)))
            closed = tricklers.count_closed()
            late = probe(port, token, args.probe_timeout)
        finally:
            tricklers.close()
    finally:
        child.terminate()
        child.join(30)
    answered = [p for p in early if p is not None]
    row = {"variant": variant, "connections": n, "connection_limit": limit, "opened_seconds": round(opened, 2),
           "new_request_seconds": [None if p is None else round(p, 3) for p in early],
           "answered": f"{len(answered)}/{len(early)}", "max_answered_seconds": round(max(answered), 3) if answered else None,
           f"closed_by_server_after_{args.late:g}s": closed,
           f"new_request_after_{args.late:g}s": None if late is None else round(late, 3)}
    print(f"  {variant:30s} {n:5d} trickling: new request {row['new_request_seconds']} s; after {args.late:g} s "
          f"{closed} closed by the server, new request {row[f'new_request_after_{args.late:g}s']} s", flush=True)
    return row


def write_markdown(rows, args, path: Path) -> None:
    late = f"{args.late:g}"
    lines = [f"| listener | trickling connections | new request answered (3 tries, s) | after {late} s: closed by the "
             "server, new request (s) |", "|---|---:|---|---|"]
    for r in rows:
        tries = ", ".join("not answered" if p is None else f"{p:.3f}" for p in r["new_request_seconds"])
        after = r[f"new_request_after_{late}s"]
        lines.append(f"| {r['variant']} | {r['connections']} | {tries} | {r[f'closed_by_server_after_{late}s']} of "
                     f"{r['connections']}, {'not answered' if after is None else f'{after:.3f}'} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[110, 1100])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between a connection's bytes")
    parser.add_argument("--probe-timeout", type=float, default=10.0)
    parser.add_argument("--late", type=float, default=25.0, help="seconds after the attack began for the last look")
    parser.add_argument("--images", type=int, default=300, help="digits in the served run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hostile_network")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    run_dir, token = make_run(args.out, args.images)
    rows = []
    for variant in args.variants:
        for n in args.connections:
            if variant == "waitress as before" and n > 110 and any(
                    r["variant"] == variant and r["answered"] == "0/3" for r in rows):
                continue  # already locked out by fewer
            rows.append(measure(variant, n, run_dir, token, args))
    script = Path(sys.argv[0]).resolve()
    shown = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else script.name
    facts = {"command": " ".join(shlex.quote(a) for a in ["python", shown] + list(argv or sys.argv[1:])),
             "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores, {platform.platform()}",
             "load_average_after": os.getloadavg()[0], "every": args.every, "late": args.late, "rows": rows}
    (args.out / "results.json").write_text(json.dumps(facts, indent=2))
    write_markdown(rows, args, args.out / "results.md")
    print((args.out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
