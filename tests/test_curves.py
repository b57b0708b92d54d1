import math

import pytest

from autoal.results.curves import area_under_curve, budget_to_reach


def test_area_under_a_straight_line_is_its_mean():
    assert area_under_curve([0, 100], [0.5, 0.7]) == pytest.approx(0.6)
    assert area_under_curve([0, 50, 100], [0.5, 0.5, 1.0]) == pytest.approx(0.625)


def test_budget_to_reach_interpolates():
    assert budget_to_reach([100, 200, 300], [0.6, 0.7, 0.9], 0.8) == pytest.approx(250)
    assert budget_to_reach([100, 200], [0.85, 0.9], 0.8) == 100
    assert math.isnan(budget_to_reach([100, 200], [0.5, 0.6], 0.8))


def test_summarize_runs_on_hand_made_curves():
    import pandas as pd

    from autoal.results.curves import summarize_runs

    rows = []
    for seed in (0, 1):
        for r, n in enumerate([100, 200, 300]):
            rows.append({"strategy": "random", "seed": seed, "round": r, "n_labeled": n, "accuracy": [0.5, 0.6, 0.7][r]})
            smart = [0.5, 0.7, 0.8][r] + (0.02 if seed else 0.0)
            rows.append({"strategy": "smart", "seed": seed, "round": r, "n_labeled": n, "accuracy": smart})
    per_round, per_group = summarize_runs(pd.DataFrame(rows), compare_to=("random",))
    smart = per_group.set_index("strategy").loc["smart"]
    # random's final accuracy 0.7 is reached by smart's mean curve (0.51, 0.71, ...) at 100 + 100 * 0.19 / 0.2
    assert smart["budget_to_random_final"] == pytest.approx(195.0)
    assert smart["fraction_of_random_budget"] == pytest.approx(0.65)
    assert smart["aulc"] == pytest.approx(0.685)  # mean of 0.675 and 0.695
    assert smart["aulc_minus_random"] == pytest.approx(0.085) and smart["wins_vs_random"] == 2
    assert per_group.set_index("strategy").loc["random", "fraction_of_random_budget"] == pytest.approx(1.0)
    assert per_round[per_round["strategy"] == "smart"]["accuracy"].round(3).tolist() == [0.51, 0.71, 0.81]
