"""Learning-curve summaries: area under the curve and the budget needed to reach a target accuracy."""

from __future__ import annotations

import io

import numpy as np

from autoal.common.files import write_atomic

__all__ = ["area_under_curve", "budget_to_reach", "summarize_runs", "plot_curves"]


def area_under_curve(budget, accuracy) -> float:
    """Mean accuracy over the budget range: the trapezoid area divided by the range's width.

    Parameters
    ----------
    budget : array-like, increasing
        Labels (or annotations) spent at each point.
    accuracy : array-like
        Accuracy at each point.
    """
    x, y = np.asarray(budget, dtype=float), np.asarray(accuracy, dtype=float)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[0]) if len(y) else float("nan")
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def budget_to_reach(budget, accuracy, target) -> float:
    """The smallest budget at which the curve reaches ``target``, interpolating linearly between
    points; NaN when it never does."""
    x, y = np.asarray(budget, dtype=float), np.asarray(accuracy, dtype=float)
    hits = np.flatnonzero(y >= target)
    if not len(hits):
        return float("nan")
    i = hits[0]
    if i == 0:
        return float(x[0])
    return float(x[i - 1] + (target - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1]))


def summarize_runs(results, *, budget="n_labeled", group="strategy", baseline="random", compare_to=("random",)):
    """Summarise learning curves of several strategies over seeds.

    Parameters
    ----------
    results : DataFrame
        One row per (``group``, ``seed``, ``round``) with columns ``budget`` and ``accuracy``.
    budget : str
        Column with the labels (or annotations) spent.
    baseline : str
        The group whose final mean accuracy is the target of "budget to reach".
    compare_to : sequence of str
        Groups against which paired per-seed AULC differences are reported.

    Returns
    -------
    per_round : DataFrame
        Per group and round: mean budget, accuracy mean and std, number of seeds.
    per_group : DataFrame
        Per group: final accuracy mean/std, AULC mean/std, budget to reach the baseline's final mean
        accuracy (from the mean curve) and its fraction of the baseline's final budget, and for each
        group in ``compare_to``: mean and std of the paired AULC difference, wins, seeds and the
        paired t-test p-value.
    """
    import pandas as pd

    per_round = (results.groupby([group, "round"])
                 .agg(budget=(budget, "mean"), accuracy=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
                      n_seeds=("accuracy", "size"))
                 .reset_index())
    aulc = (results.sort_values("round").groupby([group, "seed"])
            .apply(lambda g: area_under_curve(g[budget], g["accuracy"]), include_groups=False)
            .rename("aulc").reset_index())
    curves = {name: g.sort_values("round") for name, g in per_round.groupby(group)}
    target = float(curves[baseline]["accuracy"].iloc[-1]) if baseline in curves else float("nan")
    base_budget = float(curves[baseline]["budget"].iloc[-1]) if baseline in curves else float("nan")
    rows = []
    for name, curve in curves.items():
        mine = aulc[aulc[group] == name].set_index("seed")["aulc"]
        row = {group: name, "final_accuracy": curve["accuracy"].iloc[-1], "final_accuracy_std": curve["accuracy_std"].iloc[-1],
               "final_budget": curve["budget"].iloc[-1], "aulc": mine.mean(), "aulc_std": mine.std(),
               f"budget_to_{baseline}_final": budget_to_reach(curve["budget"], curve["accuracy"], target)}
        row[f"fraction_of_{baseline}_budget"] = row[f"budget_to_{baseline}_final"] / base_budget
        for other in compare_to:
            theirs = aulc[aulc[group] == other].set_index("seed")["aulc"]
            diff = (mine - theirs).dropna()
            row[f"aulc_minus_{other}"] = diff.mean() if len(diff) else float("nan")
            row[f"aulc_minus_{other}_std"] = diff.std() if len(diff) > 1 else float("nan")
            row[f"wins_vs_{other}"] = int((diff > 0).sum())
            row[f"p_vs_{other}"] = _paired_p(diff)
        row["n_seeds"] = len(mine)
        rows.append(row)
    return per_round, pd.DataFrame(rows)


def _paired_p(diff) -> float:
    if len(diff) < 2 or np.allclose(diff, diff.iloc[0]):
        return float("nan")
    from scipy.stats import ttest_1samp

    return float(ttest_1samp(diff, 0.0).pvalue)


def plot_curves(per_round, path, *, group="strategy", xlabel="labelled examples", ylabel="holdout accuracy"):
    """Plot mean ``accuracy`` (or what ``ylabel`` names) against budget with a +- std band, one line per group;
    save as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(per_round.groupby(group))
    colours = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20").colors
    fig, ax = plt.subplots(figsize=(7, 4.5) if len(groups) <= 6 else (9, 5.5))
    for k, (name, c) in enumerate(groups):
        c = c.sort_values("round")
        colour = colours[k % len(colours)]
        ax.plot(c["budget"], c["accuracy"], marker="o", markersize=3, label=name, color=colour,
                linestyle="--" if "/" in str(name) else "-")  # variants such as "margin/kmeans" dashed
        std = c["accuracy_std"].fillna(0)
        ax.fill_between(c["budget"], c["accuracy"] - std, c["accuracy"] + std, alpha=0.1, color=colour)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (mean +- std over seeds)" if per_round["accuracy_std"].any() else ""))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
