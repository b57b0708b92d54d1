"""Five annotators posting at once over real HTTP (waitress on 127.0.0.1): none lost, none counted twice.

The client is the one ``benchmarks/labelling_server.py`` measures with: one thread per annotator, each
with its own keep-alive connection and cookie, answering its whole queue (300 answers in all, every
7th posted twice), bounded by a timeout.
"""

from pathlib import Path

from conftest import load_file_module
from serving import labels_of, make_run, serve_http

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "labelling_server.py"
NAMES = [f"ann{k}" for k in range(1, 6)]


def load_benchmark():
    return load_file_module(BENCHMARK)


def test_five_annotators_in_parallel_lose_nothing_and_count_nothing_twice(tmp_path):
    bench = load_benchmark()
    run_dir, truth, session = make_run(tmp_path, names=NAMES, n_per_class=110, batch_size=300, relabel=False,
                                       n_rounds=2)
    server, tokens = serve_http(run_dir, session)
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
        result = bench.answer_concurrently(server.url, {n: tokens[n] for n in NAMES}, truth.__getitem__, limit=100,
                                           timeout=120, repeat_every=7, round_=1)
        served = bench.wait_for_round(server.url, tokens[NAMES[0]], 2, 120)
    finally:
        server.close()
    threads = result["threads"]
    assert [e for t in threads.values() for e in t.errors] == []
    acknowledged = sorted((i, n, lab) for n, t in threads.items() for i, lab in t.acknowledged)
    assert len(acknowledged) == 300 and all(len(t.acknowledged) == 60 for t in threads.values())
    stored = labels_of(run_dir)
    stored = stored[stored["annotator"].isin(NAMES)]
    assert sorted(stored[["example_id", "annotator", "label"]].itertuples(index=False, name=None)) == acknowledged
    assert not stored.duplicated(["example_id"]).any()  # new examples only: each answered by its one annotator
    assert set(stored["round"]) == {1}
    assert sum(t.refused_repeats for t in threads.values()) == sum(60 // 7 for _ in NAMES)  # every repeat refused
    assert served is not None  # the full batch trained round 1 and round 2 was served without a command
    assert result["latency"].max() < 10
