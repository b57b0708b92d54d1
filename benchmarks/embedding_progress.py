"""What a person sees at a terminal during the first embedding pass, and what a second run over the same images costs.

    python benchmarks/embedding_progress.py --manifest flowers.csv --limit 300 --out benchmarks/results/embedding_progress

``autoal run`` is started twice on the same ``--limit`` images (a seeded sample of the manifest), each with its own
output folder and one shared, initially empty embedding cache, inside a pseudo-terminal (so that progress bars
are drawn as they are for a person). Every piece of output is time-stamped. Recorded in ``OUT/results.json``:
seconds from the start of the process to the first output, to the first "embedding images" bar, and from the
line before the bar to the bar; the whole first run; and for the second run its wall time, the images it
embedded (the cache's rows before and after) and the history's ``n_embedded``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, required=True, help="a labelled manifest of images")
    p.add_argument("--limit", type=int, default=300, help="a seeded sample of this many images")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, help="where the runs and the cache go (default: a new temporary folder)")
    return p.parse_args(argv)


def in_terminal(command, env) -> tuple:
    """Run ``command`` with a pseudo-terminal as stdout and stderr: ``(exit code, [(seconds since start, text)])``."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a person's 120 x 40 terminal
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=terminal, stderr=terminal, env=env, cwd=ROOT)
    os.close(terminal)
    events = []
    while True:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            events.append((time.perf_counter() - started, chunk.decode(errors="replace")))
        elif process.poll() is not None:
            break
    code = process.wait()
    os.close(controller)
    return code, events


def cache_rows(cache: Path) -> dict:
    return {c.name: json.loads((c / "index.json").read_text())["rows"] for c in cache.iterdir() if c.is_dir()}


def main(argv=None) -> int:
    import pandas as pd

    from autoal.results.reporting import command_line, package_versions

    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="autoal-progress-"))
    work.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(args.manifest)
    frame = frame.sample(n=min(args.limit, len(frame)), random_state=0).sort_index()
    base = args.manifest.resolve().parent
    frame["image_path"] = [str((base / p).resolve()) for p in frame["image_path"]]
    manifest = work / "images.csv"
    frame.drop(columns=[c for c in ("sha256", "split") if c in frame]).to_csv(manifest, index=False)
    cache = work / "embedding-cache"
    env = dict(os.environ, AUTOAL_EMBEDDING_CACHE=str(cache), PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "autoal.cli", "run", str(manifest), "--rounds", "1", "--batch-size", "10",
               "--init-per-class", "2", "--seed", "0"]
    code, events = in_terminal(command + ["--out", str(work / "first")], env)
    assert code == 0, "".join(t for _, t in events)[-3000:]
    bar = next(k for k, (_, text) in enumerate(events) if "embedding images" in text)
    rows = cache_rows(cache)
    started = time.perf_counter()
    code, second_events = in_terminal(command + ["--strategy", "random", "--out", str(work / "second")], env)
    second_seconds = time.perf_counter() - started
    assert code == 0, "".join(t for _, t in second_events)[-3000:]
    history = pd.read_csv(work / "second" / "history.csv")
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "command": command_line("benchmarks/embedding_progress.py", args,
                                                                         leave_out=("work",)),
        "n_images": len(frame), "load_average": os.getloadavg(),
        "first_output_seconds": round(events[0][0], 2), "first_bar_seconds": round(events[bar][0], 2),
        "bar_after_previous_output_seconds": round(events[bar][0] - events[bar - 1][0], 2) if bar else None,
        "first_run_seconds": round(events[-1][0], 1), "cache_rows_after_first": rows,
        "second_run_seconds": round(second_seconds, 1), "cache_rows_after_second": cache_rows(cache),
        "second_run_n_embedded": [int(n) for n in history["n_embedded"]],
        "second_run_embedding_bars": sum("embedding images with" in t for _, t in second_events),
        "versions": package_versions(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    (args.out / "first_run_terminal.txt").write_text(
        "".join(f"[{t:7.2f} s] {text!r}\n" for t, text in events[:bar + 5]))
    print(json.dumps({k: v for k, v in record.items() if k != "versions"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
