"""K-fold models (oos="cross_val"): every fold holds every class, and labelled and pool scores share the models."""

import numpy as np
import pandas as pd
import pytest

import autoal
from autoal.multiannotator.fold_models import FoldModels, fold_assignment
from autoal.learners import Learner, pad_probabilities


@pytest.mark.parametrize("seed", range(6))
def test_every_fold_trains_on_every_class(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, size=rng.integers(2, 7))  # some classes with one or two examples
    labels = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    k = int(rng.integers(2, 6))
    folds = fold_assignment(labels, k, seed)
    for fold in range(k):
        assert set(labels[folds != fold]) == set(labels), f"fold {fold} misses a class"
    singletons = [c for c, n in enumerate(sizes) if n == 1]
    assert set(np.flatnonzero(folds < 0)) == set(np.flatnonzero(np.isin(labels, singletons)))
    big = [c for c, n in enumerate(sizes) if n >= k]
    for c in big:  # spread evenly
        per_fold = np.bincount(folds[labels == c], minlength=k)
        assert per_fold.max() - per_fold.min() <= 1


class Recording(Learner):
    """Predicts the class frequencies of its own training labels (so its output names its training set);
    every fitted instance is kept in ``Recording.fitted``."""

    fitted: list = []

    def __init__(self, tag=0):
        self.tag = tag

    def fit(self, df):
        self.trained_on_ = frozenset(df.index)
        counts = df[self.label].value_counts()
        self.probs_ = pad_probabilities((counts / counts.sum()).to_numpy()[None, :], counts.index.tolist(), self.classes)[0]
        self.probs_ = self.probs_ + 1e-6 * (sum(hash(i) % 997 for i in self.trained_on_) % 991)
        self.probs_ /= self.probs_.sum()
        Recording.fitted.append(self)
        return self

    def predict_proba(self, df):
        return np.tile(self.probs_, (len(df), 1))


def frame(n, classes=("red", "green", "blue")):
    labels = np.array([classes[i % len(classes)] for i in range(n)])
    return pd.DataFrame({"image_path": [f"/x/{i}.png" for i in range(n)]}, index=range(n)), labels


def test_out_of_fold_probabilities_come_from_a_model_that_did_not_see_the_example():
    Recording.fitted = []
    features, labels = frame(20)
    base = Recording().configure(classes=["red", "green", "blue"])
    classes = np.array([["red", "green", "blue"].index(c) for c in labels])
    classes[0] = 2  # one more blue...
    classes[19] = 0
    models = FoldModels.fit(base, features, classes, k=4, random_state=3)
    assert len(models.learners) == 4
    for row, fold in enumerate(models.folds):
        learner = models.learners[fold]
        assert row not in learner.trained_on_
        np.testing.assert_allclose(models.out_of_fold[row], learner.probs_)
    assert (models.out_of_fold > 0).all(), "no structural zero: every fold model saw every class"
    pool = features.iloc[:3]
    np.testing.assert_allclose(models.predict(pool), np.mean([m.probs_ for m in models.learners], axis=0)[None].repeat(3, 0))


def test_in_a_run_labelled_and_pool_scores_come_from_the_same_fold_models(tmp_path):
    from conftest import write_images

    images = write_images(tmp_path / "img", 10)
    seen = []

    def spy(labels_multiannotator, pred_probs, pred_probs_unlabeled):
        seen.append((np.array(pred_probs), np.array(pred_probs_unlabeled)))
        return autoal.query.strategies.activelab(labels_multiannotator, pred_probs, pred_probs_unlabeled)

    Recording.fitted = []
    autoal.run(images, learner=Recording(), strategy=spy, annotators=autoal.simulated_annotators(3), oos="cross_val",
               folds=3, batch_size=4, n_rounds=2, initial_per_class=3, output_dir=tmp_path / "run", verbose=False)
    fold_models = [m for m in Recording.fitted if "folds" in str(m.output_dir)]
    assert len(seen) == 2 and len(fold_models) >= 6
    for labelled_probs, pool_probs in seen:
        candidates = [fold_models[i:i + 3] for i in range(0, len(fold_models), 3)]
        matches = [group for group in candidates
                   if np.allclose(pool_probs, np.mean([m.probs_ for m in group], axis=0))]
        assert matches, "the pool was scored by the average of one round's fold models"
        group = matches[0]
        for row in labelled_probs:
            assert any(np.allclose(row, m.probs_) for m in group), "each labelled example by one of the same models"
