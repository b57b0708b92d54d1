"""The stable-predictions stopping rule on scripted prediction sequences with known stop rounds."""

import numpy as np
import pytest

from autoal.errors import InputError
from autoal.rounds.stopping import StablePredictions, cohen_kappa, make_stop_rule


def test_kappa_matches_scikit_learn_and_handles_identical_vectors():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    b[:150] = a[:150]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa([2, 2, 2], [2, 2, 2]) == 1.0  # constant and identical: sklearn gives NaN
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)


def scripted_kappas(predictions):
    return [float("nan")] + [cohen_kappa(p, q) for p, q in zip(predictions, predictions[1:])]


def test_stops_after_three_stable_rounds_in_a_row():
    base = np.arange(100) % 5
    changing = [np.roll(base, k) for k in range(4)]  # rounds 0-3 keep changing
    stable = [base.copy() for _ in range(4)]  # rounds 4-7 identical: kappa 1 from round 5 on
    kappas = scripted_kappas(changing + stable)
    rule = StablePredictions(kappa=0.99, rounds=3)
    assert rule.stop_round(kappas) == 7
    assert not rule.should_stop(kappas[:7]) and rule.should_stop(kappas[:8])


def test_one_unstable_round_resets_the_count():
    rule = StablePredictions(kappa=0.9, rounds=2)
    assert rule.stop_round([np.nan, 0.95, 0.5, 0.95, 0.99]) == 4
    assert rule.stop_round([np.nan, 0.95, 0.89, 0.95]) is None
    assert rule.stable_rounds([0.95, 0.97, 0.99]) == 3


def test_threshold_and_rounds_are_settable():
    kappas = [np.nan, 0.97, 0.97, 0.97]
    assert StablePredictions().stop_round(kappas) is None
    assert StablePredictions(kappa=0.95, rounds=3).stop_round(kappas) == 3
    assert StablePredictions(kappa=0.95, rounds=1).stop_round(kappas) == 1


def test_stop_set_is_seeded_and_a_subset():
    rule = StablePredictions(size=10)
    ids = [f"e{k}" for k in range(100)]
    a, b = rule.stop_set(ids, 3), rule.stop_set(ids, 3)
    assert a == b and len(a) == 10 and set(a) <= set(ids)
    assert rule.stop_set(ids, 4) != a, "another seed draws another stop set"
    assert rule.stop_set(ids[:4], 3) == ids[:4]


@pytest.mark.parametrize("stop, message", [("soon", "unknown stop rule"), ({"kappa": 1.5}, "kappa"),
                                           ({"rounds": 0}, "rounds"), ({"patience": 2}, "unknown stop settings")])
def test_bad_stop_arguments_are_named(stop, message):
    with pytest.raises(InputError, match=message):
        make_stop_rule(stop)


def test_make_stop_rule_accepts_the_documented_forms():
    assert make_stop_rule(None) is None
    assert make_stop_rule("stable") == StablePredictions()
    assert make_stop_rule({"kappa": 0.98, "rounds": 2}) == StablePredictions(kappa=0.98, rounds=2)
