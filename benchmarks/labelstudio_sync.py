"""Label Studio as a run's front end: the time from the last answer in Label Studio to the next batch visible there.

    .venv/bin/python benchmarks/labelstudio_sync.py --learner embeddings --rounds 3

Starts a real Label Studio 1.23.2 from ``.venv-labelstudio`` (its own data folder under ``--out``,
local files served from the dataset's folder) with two users, alice (the admin) and bob, and makes a
real-mode run on a Fashion-MNIST subsample (``--pool`` images, ``--given`` labels per class given,
``--test`` holdout images) whose annotators are alice and bob. Then ``autoal labelstudio sync`` runs
on it as its own process, as a user would start it (``--poll`` seconds between looks). For each of
``--rounds`` rounds: wait until the round's tasks are in Label Studio (``tasks.list``), answer every
one with its true class through ``annotations.create`` with the token of the person it was given to,
and measure from the return of the last answer to the first ``tasks.list`` that shows the next
round's tasks (the sync notices the answers, pulls them, trains, selects the next batch and imports it).

Writes ``results.json`` under ``--out`` (every round's figure, the sync's log and the machine's load).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABEL_STUDIO = Path(os.environ.get("AUTOAL_LABEL_STUDIO", ROOT / ".venv-labelstudio" / "bin" / "label-studio"))


class LabelStudioServer:
    """A Label Studio started for the benchmark (legacy API tokens on), stopped by :meth:`close`."""

    def __init__(self, folder: Path, document_root: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.folder, self.url, self.token = folder, f"http://127.0.0.1:{port}", "autoal" + os.urandom(12).hex()
        self.env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=str(folder / "data"), HOME=str(folder),
                        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
                        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(document_root))
        self.log = open(folder / "label_studio.log", "wb")
        self.process = subprocess.Popen(
            [str(LABEL_STUDIO), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
             "--username", "alice@example.com", "--password", "alice-password-1", "--user-token", self.token,
             "--enable-legacy-api-token"], stdout=self.log, stderr=subprocess.STDOUT, env=self.env, cwd=folder)

    def wait(self, timeout=300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.folder / "label_studio.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        else:
            raise RuntimeError(f"Label Studio did not answer /health in {timeout} s")
        with sqlite3.connect(self.folder / "data" / "label_studio.sqlite3") as db:  # legacy tokens on
            db.execute("UPDATE jwt_auth_jwtsettings SET legacy_api_tokens_enabled = 1")

    def user_token(self, email) -> str:
        out = subprocess.run([str(LABEL_STUDIO), "user", "--username", email], env=self.env, cwd=self.folder,
                             capture_output=True, text=True, timeout=300).stdout
        line = next(line for line in out.splitlines() if line.startswith("{") and "'token'" in line)
        return ast.literal_eval(line)["token"]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def make_run(args, run_dir):
    """A real-mode run on a Fashion-MNIST subsample with annotators alice and bob; returns ``(true labels, the
    folder above the dataset's)``."""
    import autoal
    from autoal.annotation.annotators import PageAnnotator
    from autoal.data.datasets import build_dataset
    from autoal.rounds.loop import start_session

    manifest = build_dataset("fashion-mnist")
    rng = np.random.default_rng(args.seed)
    train, holdout = autoal.load_manifest(manifest, split="train"), autoal.load_manifest(manifest, split="test")
    pool = train.iloc[np.sort(rng.choice(len(train), size=args.pool, replace=False))]
    test = holdout.iloc[np.sort(rng.choice(len(holdout), size=args.test, replace=False))]
    truth = {str(i): c for i, c in pool["label"].items()}
    df = pool.copy()
    df.loc[df.groupby("label").cumcount() >= args.given, "label"] = np.nan
    session = start_session(df, test_df=test, learner=args.learner, annotators=[PageAnnotator("alice"),
                            PageAnnotator("bob")], batch_size=args.batch, n_rounds=args.rounds + 1, relabel=False,
                            output_dir=run_dir, verbose=False, simulate=False, random_state=args.seed)
    session.state.close()
    return truth, manifest.parent.resolve().parent  # Label Studio's document root: the folder above the images'


def round_tasks(client, project_id, r) -> list:
    return [t for t in client.tasks.list(project=project_id, page_size=1000) if t.data.get("autoal_round") == r]


def wait_for_round(client, title, r, timeout, sync) -> tuple:
    """``(project id, tasks)`` once round ``r``'s tasks are in the project titled ``title``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sync.poll() is not None:
            raise RuntimeError(f"the sync stopped (exit {sync.returncode}) before round {r} was pushed")
        projects = [p for p in client.projects.list() if p.title == title]
        if projects:
            tasks = round_tasks(client, projects[0].id, r)
            if tasks:
                return projects[0].id, tasks
        time.sleep(0.1)
    raise TimeoutError(f"round {r}'s tasks did not appear in {timeout} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learner", default="embeddings", choices=["fast", "embeddings", "autogluon"])
    parser.add_argument("--rounds", type=int, default=3, help="rounds answered and measured")
    parser.add_argument("--batch", type=int, default=20, help="examples per round (half each for alice and bob)")
    parser.add_argument("--pool", type=int, default=2000, help="Fashion-MNIST training images in the pool")
    parser.add_argument("--test", type=int, default=500, help="Fashion-MNIST test images in the holdout")
    parser.add_argument("--given", type=int, default=5, help="labels given per class before round 0")
    parser.add_argument("--poll", type=float, default=1.0, help="the sync's --poll (its default: 1 s)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "labelstudio_sync")
    args = parser.parse_args(argv)
    from label_studio_sdk import LabelStudio

    from autoal.results.reporting import package_versions

    out = args.out.resolve()
    if out.exists():
        import shutil

        shutil.rmtree(out)
    (out / "ls").mkdir(parents=True)
    run_dir = out / "run"
    truth, image_root = make_run(args, run_dir)
    studio = LabelStudioServer(out / "ls", image_root)
    title, figures, sync = "autoal benchmark", [], None
    try:
        studio.wait()
        admin = LabelStudio(base_url=studio.url, api_key=studio.token)
        admin.users.create(email="bob@example.com", username="bob", password="bob-password-1")
        clients = {"alice": admin, "bob": LabelStudio(base_url=studio.url, api_key=studio.user_token("bob@example.com"))}
        sync_log = open(out / "sync.log", "w")
        started = time.perf_counter()
        sync = subprocess.Popen([sys.executable, "-m", "autoal.cli.commands", "labelstudio", "sync", str(run_dir), "--url",
                                 studio.url, "--title", title, "--image-root", str(image_root), "--poll", str(args.poll)],
                                env=dict(os.environ, LABEL_STUDIO_API_KEY=studio.token), stdout=sync_log,
                                stderr=subprocess.STDOUT, cwd=ROOT)
        project_id, tasks = wait_for_round(admin, title, 1, args.timeout, sync)
        first_batch = time.perf_counter() - started
        print(f"round 1's {len(tasks)} tasks in Label Studio {first_batch:.1f} s after the sync started")
        for r in range(1, args.rounds + 1):
            load = os.getloadavg()[0]
            for task in tasks:
                (who,) = task.data["autoal_annotators"]
                clients[who].annotations.create(id=task.id, result=[{
                    "from_name": "label", "to_name": "image", "type": "choices",
                    "value": {"choices": [truth[task.data["example_id"]]]}}])
            last_answer = time.perf_counter()
            _, tasks = wait_for_round(admin, title, r + 1, args.timeout, sync)
            seconds = time.perf_counter() - last_answer
            figures.append({"round": r, "answers": len(tasks), "last_answer_to_next_batch_seconds": seconds,
                            "load_average_before": load})
            print(f"round {r}: last answer -> round {r + 1}'s {len(tasks)} tasks visible in {seconds:.1f} s")
    finally:
        if sync is not None and sync.poll() is None:
            sync.send_signal(signal.SIGINT)
            try:
                sync.wait(60)
            except subprocess.TimeoutExpired:
                sync.kill()
        studio.close()
    log = (out / "sync.log").read_text()
    with sqlite3.connect(run_dir / "run.sqlite") as db:  # the run's own timings of each round
        steps = [{k: v for k, v in json.loads(record).items() if k == "round" or k.endswith("_seconds")}
                 for (record,) in db.execute("SELECT record FROM rounds ORDER BY round")]
    seconds = [f["last_answer_to_next_batch_seconds"] for f in figures]
    summary = {"date": time.strftime("%Y-%m-%d %H:%M"),
               "command": shlex.join(["python", "benchmarks/labelstudio_sync.py"] + list(argv or sys.argv[1:])),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
               "versions": package_versions(), "settings": vars(args) | {"out": str(args.out)},
               "first_batch_seconds": first_batch, "rounds": figures, "run_timings": steps,
               "median_seconds": float(np.median(seconds)), "max_seconds": float(np.max(seconds)),
               "sync_log": log.splitlines()}
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    import shutil

    for path in (out / "ls", run_dir):  # the figures are what is kept (the sync's log is in results.json)
        shutil.rmtree(path, ignore_errors=True)
    (out / "sync.log").unlink()
    print(f"median {summary['median_seconds']:.1f} s, max {summary['max_seconds']:.1f} s; wrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
