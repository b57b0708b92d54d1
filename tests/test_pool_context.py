"""What a strategy that takes ``context`` sees each round (autoal.query.context.PoolContext via the session)."""

import json

import numpy as np
from conftest import write_images

import autoal
from autoal.annotation.annotators import SimulatedAnnotator
from autoal.learners import FastLearner


def test_a_strategy_with_context_gets_the_pool_the_labels_so_far_and_their_features(tmp_path):
    pool_df = write_images(tmp_path / "pool", 8)
    test_df = write_images(tmp_path / "test", 2, seed=1)
    seen = []

    def first_rows(labels_multiannotator, pred_probs, pred_probs_unlabeled, *, context):
        seen.append({"context": context, "n_labelled_rows": len(labels_multiannotator),
                     "n_pool_rows": len(pred_probs_unlabeled), "features": context.embeddings_of(context.pool[:3])})
        return None, np.arange(len(pred_probs_unlabeled), dtype=float)  # the first pool rows, in pool order

    # an annotator right half the time: the context's labels must be what was answered, not the truth
    answerer = SimulatedAnnotator(0.5, name="half", random_state=0)
    result = autoal.run(pool_df, test_df=test_df, strategy=first_rows, batch="topk", initial="random",
                        learner="fast", annotators=answerer, batch_size=2, n_rounds=2, initial_per_class=1,
                        output_dir=tmp_path / "run", random_state=5, verbose=False)
    assert [len(s["context"].pool) for s in seen] == [21, 19]
    given = result.labels.set_index("example_id")["label"]  # one annotator: one answer per example
    classes = list(result.classes)
    ids = list(pool_df.index)
    picked = result.history.set_index("round")["picked_ids"].map(lambda text: json.loads(text) if isinstance(text, str)
                                                                 else list(text))
    for r, call in enumerate(seen, start=1):
        context = call["context"]
        labelled_ids = [i for earlier in range(r) for i in picked[earlier]]
        assert sorted(ids[p] for p in context.labelled) == sorted(labelled_ids)
        assert call["n_labelled_rows"] == len(context.labelled)
        assert sorted(context.pool.tolist()) == sorted(set(range(len(ids))) - set(context.labelled.tolist()))
        assert call["n_pool_rows"] == len(context.pool)
        answers = [classes.index(given[ids[p]]) for p in context.labelled]
        assert context.labels.tolist() == answers
        assert context.batch_size == 2 and context.n_classes == 3
        # the strategy's lowest scores were the first pool rows: the round picked exactly those
        assert sorted(picked[r]) == sorted(ids[p] for p in context.pool[:2])
        thumbnails = FastLearner()._featurize(pool_df["image_path"].iloc[context.pool[:3]])
        np.testing.assert_allclose(call["features"], thumbnails)
    wrong = [i for i in picked[0] + picked[1] if given[i] != pool_df.loc[i, "label"]]
    assert wrong, "the annotator must have given some wrong label, else the labels check cannot tell answer from truth"
