"""The guards around ActiveLab's relabels, on scripted label matrices where the right answer is known."""

import numpy as np
import pytest
from conftest import FixedLearner

import autoal
from autoal.errors import InputError
from autoal.query.relabel_policy import RelabelPolicy, make_relabel_policy, tied_examples
from autoal.query.selection import Scores, select_batch
from autoal.store.snapshot import Snapshot

NAMES = ("a", "b", "c", "d")


def snapshot(labels, n_examples=30, assigned=()):
    """A snapshot from ``{position: [(annotator, class), ...]}`` and open ``(position, annotator)`` assignments."""
    rows = [(p, NAMES.index(a), c) for p, given in labels.items() for a, c in given]
    example, annotator, label = (np.array(v, dtype=np.int64) for v in zip(*rows)) if rows else [np.zeros(0, np.int64)] * 3
    n = len(example)
    assigned = list(assigned)
    return Snapshot(n_examples, NAMES, np.arange(1, n + 1), example, annotator, label, np.zeros(n, np.int64),
                    np.zeros(n), np.ones(len(assigned), np.int64), np.array([p for p, _ in assigned], np.int64),
                    np.array([NAMES.index(a) for _, a in assigned], np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


def scores(snap, labelled_scores, pool_score=0.5):
    labelled = snap.labelled
    pool = np.setdiff1d(np.arange(snap.n_examples), labelled)
    return Scores(pool, np.full(len(pool), pool_score), labelled, np.asarray(labelled_scores, dtype=float))


def pick(snap, sc, policy, batch=10):
    picked, facts = select_batch(sc, snap, list(NAMES), batch, policy=policy, random_state=0, policy_random_state=1)
    return picked, facts


def test_with_only_single_labels_only_the_warmup_share_relabels():
    snap = snapshot({p: [("a", p % 3)] for p in range(10)})
    sc = scores(snap, np.zeros(10))  # every labelled example scores below every pool example
    picked, facts = pick(snap, sc, RelabelPolicy(min_multi_labelled=5, warmup_share=0.2), batch=10)
    relabels = [p for p in picked if p < 10]
    assert len(relabels) == 2 and facts == {"n_forced_ties": 0, "n_warmup": 2, "warming_up": True}
    none, facts = pick(snap, sc, RelabelPolicy(min_multi_labelled=5, warmup_share=0.0), batch=10)
    assert not [p for p in none if p < 10] and facts["n_warmup"] == 0
    after = RelabelPolicy(min_multi_labelled=0, warmup_share=0.2)  # the estimate is trusted: scores compete
    trusted, facts = pick(snap, sc, after, batch=10)
    assert sorted(trusted) == list(range(10)) and not facts["warming_up"]


def test_a_tie_gets_a_third_label_before_anything_else():
    labels = {p: [("a", 0), ("b", 0)] for p in range(6)}  # agreed
    labels[6] = [("a", 1), ("b", 2)]  # a tie
    labels[7] = [("a", 1), ("b", 2), ("c", 1)]  # decided
    snap = snapshot(labels)
    assert tied_examples(snap).tolist() == [6]
    sc = scores(snap, np.r_[np.zeros(6), 0.9, 0.0], pool_score=0.01)  # the tie scores worst of all
    picked, facts = pick(snap, sc, RelabelPolicy(min_multi_labelled=0), batch=3)
    assert picked[0] == 6 and facts["n_forced_ties"] == 1
    assert 7 not in picked[:1]


def test_caps_per_example_and_per_batch_hold():
    labels = {p: [("a", 0), ("b", 1)] if p < 4 else [("a", 0), ("b", 0)] for p in range(12)}
    snap = snapshot(labels, n_examples=40)
    sc = scores(snap, np.zeros(12), pool_score=0.9)  # relabels would win every place
    picked, _ = pick(snap, sc, RelabelPolicy(min_multi_labelled=0, max_share=0.3), batch=10)
    assert sum(p < 12 for p in picked) == 3 and len(picked) == 10
    capped, facts = pick(snap, sc, RelabelPolicy(min_multi_labelled=0, max_labels=2), batch=10)
    assert not [p for p in capped if p < 12] and facts["n_forced_ties"] == 0, "every labelled example has 2 labels"


def test_an_example_already_asked_or_labelled_by_everyone_is_not_relabelled():
    labels = {0: [("a", 0), ("b", 0), ("c", 0), ("d", 0)], 1: [("a", 1)], 2: [("a", 1)]}
    snap = snapshot(labels, n_examples=5, assigned=[(1, "b"), (1, "c"), (1, "d")])
    sc = scores(snap, np.zeros(3), pool_score=0.9)
    picked, _ = pick(snap, sc, RelabelPolicy(min_multi_labelled=0), batch=5)
    assert 0 not in picked and 1 not in picked and 2 in picked


@pytest.mark.parametrize("settings, message", [
    ({"max_share": 1.5}, "max_share must be a number in"), ({"warmup_share": -0.1}, "warmup_share must be"),
    ({"max_labels": 0}, "max_labels must be an integer >= 1 or None, got 0"), ({"min_multi_labelled": -1}, "min_multi_labelled must"),
    ({"share": 0.5}, "unknown relabel settings"),
])
def test_bad_relabel_settings_are_named(settings, message):
    with pytest.raises(InputError, match=message):
        make_relabel_policy(settings)


def test_relabel_settings_reach_the_run_and_its_history(images, tmp_path):
    uncertain = FixedLearner({}, default=np.array([0.34, 0.33, 0.33]))
    result = autoal.run(images, learner=uncertain, strategy="activelab", annotators=autoal.simulated_annotators(3),
                        relabel={"min_multi_labelled": 0, "max_share": 0.5, "max_labels": 2}, batch_size=6,
                        n_rounds=4, initial_per_class=3, output_dir=tmp_path / "run", verbose=False)
    history = result.history
    assert (history["relabel_share"].iloc[1:] <= 0.5).all() and history["n_relabels"].iloc[1:].sum() > 0
    assert history["max_labels_per_example"].max() <= 2
    assert result.labels.groupby("example_id").size().max() <= 2
    assert result.summary["settings"]["relabel"]["max_share"] == 0.5


def test_a_fully_labelled_df_of_real_labels_is_checked_by_the_annotators(images, tmp_path):
    """simulate=False: every row's label is a real label to check (a relabel-only run), not a hidden truth."""
    given = images.copy()
    wrong = given.index[::5]
    given.loc[wrong, "label"] = given.loc[wrong, "label"].map({"red": "green", "green": "blue", "blue": "red"})
    truth = images["label"]
    answers = [lambda f: truth.loc[f.index].tolist(), lambda f: truth.loc[f.index].tolist()]
    answers[0].__name__, answers[1].__name__ = "ann", "bo"
    result = autoal.run(given, simulate=False, annotators=answers, learner="fast", strategy="activelab",
                        relabel={"min_multi_labelled": 0}, holdout_fraction=0, batch_size=8, n_rounds=2,
                        output_dir=tmp_path / "run", verbose=False)
    assert result.summary["mode"] == "real"
    assert (result.labels["annotator"] == "given").sum() == len(images)
    assert result.history["n_new_labels"].iloc[1:].sum() == 0 and result.history["n_relabels"].iloc[1:].sum() == 16
    with pytest.raises(InputError, match="simulate=True needs every row of df labelled"):
        autoal.run(given.assign(label=[None] + list(given["label"].iloc[1:])), simulate=True, learner="fast",
                   output_dir=tmp_path / "sim", verbose=False)


@pytest.mark.parametrize("options, message", [({"oos": "folds"}, "oos must be one of .*, got 'folds'"), ({"folds": 1}, "folds must be")])
def test_bad_scoring_options_are_named(images, tmp_path, options, message):
    with pytest.raises(InputError, match=message):
        autoal.run(images, learner="fast", output_dir=tmp_path / "run", verbose=False, **options)
