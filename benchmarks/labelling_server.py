"""The labelling server under load: answers stored per second, latency, and the wait for the next batch.

    python benchmarks/labelling_server.py --learners embeddings autogluon --out benchmarks/results/labelling_server

For each learner: a real-mode run on a Fashion-MNIST subsample (``--pool`` images, ``--given`` labels
per class given, ``--test`` holdout images) with ``--annotators`` page annotators, served by
``autoal serve``'s server (waitress, Flask) on 127.0.0.1. Round 0 trains on the given labels and the
server hands out round 1's batch of ``annotators x per-annotator`` examples. Then every annotator,
each in its own thread with its own keep-alive HTTP connection and cookie, answers its whole queue as
fast as the server takes it (the true class; every ``--repeat-every``-th answer is posted twice, and
the second must be refused). Measured:

- answers stored per second (all answers / time from the first request to the last response) and the
  latency of each ``POST /api/answer`` (p50, p99, max);
- that the store holds exactly the answers acknowledged, each once (none lost, none twice);
- the time from the last answer of the batch to the next batch being served: from the response to the
  last answer until ``GET /api/queue`` first returns an example of round 2 (training round 1, then
  selecting round 2, both in the server's background thread).

Writes ``results.json`` and ``latency.csv`` (every answer) under ``--out``; with ``--screenshots``,
``annotator_page.png`` (and ``annotator_page_390px.png``, a phone's width) and ``organiser_page.png`` taken by headless Chromium (Debian's, through
Playwright) of the last learner's server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shlex
import sqlite3
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


class Annotating(threading.Thread):
    """One annotator answering their queue over a keep-alive HTTP connection with its own cookie.

    Parameters
    ----------
    base_url : str
        The server, ``http://127.0.0.1:PORT``.
    token : str
        The annotator's token (swapped for the cookie on the first request).
    answer_of : callable
        ``example_id (text) -> class name``.
    limit : int
        At most this many answers (bounds the test).
    deadline : float
        ``time.monotonic()`` after which the thread stops.
    repeat_every : int
        Post every n-th answer a second time (the server must refuse it with 409); 0: never.
    round_ : int, optional
        Stop at the first example of another round.
    """

    def __init__(self, base_url, token, answer_of, *, limit, deadline, repeat_every=0, round_=None):
        super().__init__(daemon=True)
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.token, self.answer_of, self.limit, self.deadline = token, answer_of, limit, deadline
        self.repeat_every, self.round = repeat_every, round_
        self.acknowledged: list = []  # (example_id, label) answered with 200
        self.latencies: list = []  # seconds per POST /api/answer that was stored
        self.refused_repeats = 0
        self.errors: list = []
        self.first_request = self.last_response = None

    def _request(self, conn, method, path, body=None, cookie=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if cookie:
            headers["Cookie"] = cookie
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheader("Set-Cookie"), data

    def run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            self.first_request = time.perf_counter()
            status, set_cookie, data = self._request(conn, "GET", f"/api/queue?token={self.token}")
            if status != 200:
                self.errors.append(f"queue: {status}")
                return
            cookie = set_cookie.split(";", 1)[0]
            state = json.loads(data)
            n = 0
            while state["item"] is not None and n < self.limit and time.monotonic() < self.deadline:
                item = state["item"]
                if self.round is not None and item["round"] != self.round:
                    break
                payload = {"example_id": item["example_id"], "label": self.answer_of(item["example_id"])}
                started = time.perf_counter()
                status, _, data = self._request(conn, "POST", "/api/answer", payload, cookie)
                self.last_response = time.perf_counter()
                if status != 200:
                    self.errors.append(f"answer {item['example_id']}: {status} {data[:200]!r}")
                    return
                self.latencies.append(self.last_response - started)
                self.acknowledged.append((payload["example_id"], payload["label"]))
                n += 1
                state = json.loads(data)
                if self.repeat_every and n % self.repeat_every == 0:
                    status, _, _ = self._request(conn, "POST", "/api/answer", payload, cookie)
                    if status == 409:
                        self.refused_repeats += 1
                    else:
                        self.errors.append(f"repeat of {payload['example_id']} answered {status}, not 409")
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()


def answer_concurrently(base_url, tokens, answer_of, *, limit=1000, timeout=300.0, repeat_every=0, round_=None) -> dict:
    """Every annotator of ``tokens`` (``{name: token}``) answers their queue at once, each in a thread.

    Returns ``{"threads": {name: Annotating}, "answers": n, "seconds": wall time, "per_second": ...,
    "latency": array of seconds, "last_response": perf_counter time of the last answer's response}``.
    """
    deadline = time.monotonic() + timeout
    threads = {name: Annotating(base_url, token, answer_of, limit=limit, deadline=deadline, repeat_every=repeat_every,
                                round_=round_) for name, token in tokens.items()}
    for t in threads.values():
        t.start()
    for t in threads.values():
        t.join(timeout + 30)
    latency = np.array([x for t in threads.values() for x in t.latencies])
    answers = sum(len(t.acknowledged) for t in threads.values())
    starts = [t.first_request for t in threads.values() if t.first_request is not None]
    ends = [t.last_response for t in threads.values() if t.last_response is not None]
    seconds = (max(ends) - min(starts)) if starts and ends else float("nan")
    return {"threads": threads, "answers": answers, "seconds": seconds, "per_second": answers / seconds if seconds else 0.0,
            "latency": latency, "last_response": max(ends) if ends else None}


def wait_for_round(base_url, token, round_, timeout) -> float | None:
    """Poll ``GET /api/queue`` until it serves an example of ``round_``; returns the perf_counter time, or None."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            conn.request("GET", f"/api/queue?token={token}")
            response = conn.getresponse()
            state = json.loads(response.read())
            if state.get("item") and state["item"]["round"] == round_:
                return time.perf_counter()
            time.sleep(0.01)
    finally:
        conn.close()
    return None


def stored_answers(run_dir, names) -> pd.DataFrame:
    """The page annotators' annotations in the store (plain sqlite3): example_id (text), annotator, label."""
    with sqlite3.connect(f"file:{Path(run_dir) / 'run.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT example_id, annotator, label FROM labels").fetchall()
    frame = pd.DataFrame([(str(json.loads(e)), a, lab) for e, a, lab in rows], columns=["example_id", "annotator", "label"])
    return frame[frame["annotator"].isin(names)].reset_index(drop=True)


def screenshots(out: Path, annotator_link: str, organiser_link: str, answer_of) -> list:
    """Screenshots of the annotator and organiser pages by headless Chromium; returns their paths."""
    import tempfile

    from playwright.sync_api import sync_playwright

    paths = [out / "annotator_page.png", out / "annotator_page_390px.png", out / "organiser_page.png"]
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 820})
        page = browser.new_page()
        page.goto(annotator_link)
        page.wait_for_selector("#image:not([hidden])")
        shown = page.get_attribute("#image", "data-example-id")
        page.click(f'#classes .cls[data-label="{answer_of(shown)}"]')  # one answer, so "Recent answers" shows it
        page.wait_for_selector("#recent li")  # (selectors only: the page's CSP forbids eval)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(paths[0]))
        page.set_viewport_size({"width": 390, "height": 844})  # a phone's width
        page.screenshot(path=str(paths[1]))
        page.set_viewport_size({"width": 1280, "height": 820})
        page.goto(organiser_link)
        page.wait_for_selector("#annotators")
        page.screenshot(path=str(paths[2]), full_page=True)
        browser.close()
    return [str(p) for p in paths]


def load_fashion(pool, test, seed):
    import autoal
    from autoal.data.datasets import build_dataset

    manifest = build_dataset("fashion-mnist")
    train, holdout = autoal.load_manifest(manifest, split="train"), autoal.load_manifest(manifest, split="test")
    rng = np.random.default_rng(seed)

    def sample(frame, n):
        return frame.iloc[np.sort(rng.choice(len(frame), size=min(n, len(frame)), replace=False))]

    return sample(train, pool), sample(holdout, test)  # load_manifest(split=...) drops the split column


def measure(learner, args, out: Path, *, shoot=False) -> dict:
    from autoal.annotation.annotators import PageAnnotator
    from autoal.rounds.loop import start_session
    from autoal.server import LabellingServer, figures, issue_links

    pool, test = load_fashion(args.pool, args.test, args.seed)
    truth = {str(i): c for i, c in pool["label"].items()}
    df = pool.copy()
    df.loc[df.groupby("label").cumcount() >= args.given, "label"] = np.nan
    names = [f"annotator_{k + 1}" for k in range(args.annotators)]
    batch = args.annotators * args.per_annotator
    run_dir = out / f"run_{learner}"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    options = {"max_epochs": args.max_epochs} if learner == "autogluon" else {}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    session = start_session(df, test_df=test, learner=learner, learner_options=options,
                            annotators=[PageAnnotator(n) for n in names], batch_size=batch, n_rounds=5,
                            relabel=False, output_dir=run_dir, verbose=False, simulate=False, random_state=args.seed)
    server = LabellingServer(run_dir, session, port=0, threads=8, tick=0.5, log=lambda line: print("   ", line))
    links = {name: link for _, name, link in issue_links(run_dir, server.url)}
    tokens = {n: links[n].split("token=")[1] for n in names}
    server.start()
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, args.timeout)
        ready = time.perf_counter() - started
        print(f"  {learner}: round 1's batch of {batch} served {ready:.1f} s after start; {len(names)} annotators answer")
        result = answer_concurrently(server.url, tokens, lambda i: truth[i], limit=args.per_annotator * 2,
                                     timeout=args.timeout, repeat_every=args.repeat_every, round_=1)
        served_at = wait_for_round(server.url, tokens[names[0]], 2, args.timeout)
        threads = result["threads"]
        errors = [e for t in threads.values() for e in t.errors]
        acknowledged = sorted((i, n, lab) for n, t in threads.items() for i, lab in t.acknowledged)
        stored = stored_answers(run_dir, names)
        stored_rows = sorted(stored.itertuples(index=False, name=None))
        history = server.driver.status()
        rounds = figures.history(server.app.extensions["autoal"]["desks"].get())
        shots = screenshots(out, links[names[0]], links["organiser"], lambda i: truth[i]) if shoot else []
    finally:
        server.close()
    latency = result["latency"]
    record = {
        "learner": learner, "annotators": len(names), "batch": batch, "pool": len(pool), "test": len(test),
        "answers_acknowledged": result["answers"], "answers_stored": len(stored_rows),
        "stored_equals_acknowledged": stored_rows == acknowledged, "duplicates_in_store": int(stored.duplicated(["example_id", "annotator"]).sum()),
        "repeats_refused": sum(t.refused_repeats for t in threads.values()), "errors": errors[:10],
        "seconds": result["seconds"], "answers_per_second": result["per_second"],
        "latency_ms": {"p50": float(np.percentile(latency, 50) * 1e3), "p90": float(np.percentile(latency, 90) * 1e3),
                       "p99": float(np.percentile(latency, 99) * 1e3), "max": float(latency.max() * 1e3)},
        "last_answer_to_next_batch_seconds": None if served_at is None else served_at - result["last_response"],
        "first_batch_ready_seconds": ready, "rounds_trained": history["rounds_trained"], "screenshots": shots,
        "fit_seconds": [r.get("fit_seconds") for r in rounds],
        # other work on the machine slows training (not the answers): the 1-minute load average before and after
        "load_average": [load_before, os.getloadavg()[0]],
    }
    pd.DataFrame({"learner": learner, "latency_ms": latency * 1e3}).to_csv(
        out / "latency.csv", mode="a", header=not (out / "latency.csv").exists(), index=False)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", nargs="+", default=["embeddings", "autogluon"], choices=["fast", "embeddings", "autogluon"])
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--per-annotator", type=int, default=60, help="answers per annotator in round 1's batch")
    parser.add_argument("--pool", type=int, default=2000, help="Fashion-MNIST training images in the pool")
    parser.add_argument("--test", type=int, default=500, help="Fashion-MNIST test images in the holdout")
    parser.add_argument("--given", type=int, default=5, help="labels given per class before round 0")
    parser.add_argument("--max-epochs", type=int, default=10, help="AutoGluon learner: epochs per fit")
    parser.add_argument("--repeat-every", type=int, default=10, help="post every n-th answer twice (must be refused)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screenshots", action="store_true", help="screenshots of both pages (last learner)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "labelling_server")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.csv").unlink(missing_ok=True)
    from autoal.results.reporting import package_versions

    records = []
    for k, learner in enumerate(args.learners):
        records.append(measure(learner, args, args.out, shoot=args.screenshots and k == len(args.learners) - 1))
        print(json.dumps(records[-1], indent=1))
    command = shlex.join(["python", "benchmarks/labelling_server.py"] + list(argv or sys.argv[1:]))
    summary = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": command,
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "versions": package_versions(), "results": records}
    (args.out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    bad = [r["learner"] for r in records if not r["stored_equals_acknowledged"] or r["errors"]]
    print(f"wrote {args.out / 'results.json'}" + (f"; PROBLEMS with {bad}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
