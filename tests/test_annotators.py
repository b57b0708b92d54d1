import io

import numpy as np
import pandas as pd
import pytest

from autoal.annotation.annotators import SimulatedAnnotator, StopAnnotation, simulated_annotators
from autoal.annotation.specs import annotator_from_spec
from autoal.errors import InputError
from autoal.annotation.terminal import TerminalAnnotator, image_preview

CLASSES = ["cat", "dog", "fox"]


def truth(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.Series(rng.choice(CLASSES, n), index=[f"id{i}" for i in range(n)], dtype=object)


def test_simulated_annotator_has_its_accuracy_and_is_deterministic():
    t = truth()
    a = SimulatedAnnotator(0.7, name="a", random_state=1)
    a.prepare(classes=CLASSES, true_labels=t)
    answers = a.annotate(pd.DataFrame(index=t.index))
    assert abs(np.mean(np.array(answers) == t.to_numpy()) - 0.7) < 0.03
    some = list(t.index[::-7][:50])
    assert a.annotate(pd.DataFrame(index=some)) == t.index.to_series().map(dict(zip(t.index, answers)))[some].tolist()
    wrong = [x for x, y in zip(answers, t) if x != y]
    assert set(wrong) <= set(CLASSES)


def test_noise_matrix_is_followed():
    t = truth(300)
    noise = [[0, 1, 0], [0, 1, 0], [0, 0, 1]]  # every cat is called a dog
    a = SimulatedAnnotator(name="n", noise_matrix=noise)
    a.prepare(classes=CLASSES, true_labels=t)
    answers = pd.Series(a.annotate(pd.DataFrame(index=t.index)), index=t.index)
    assert (answers[t == "cat"] == "dog").all() and (answers[t != "cat"] == t[t != "cat"]).all()


def test_bad_noise_matrix_and_accuracy():
    with pytest.raises(InputError, match="must be 3x3 with rows of probabilities"):
        SimulatedAnnotator(name="n", noise_matrix=[[1, 0], [0, 1]]).prepare(classes=CLASSES, true_labels=truth(5))
    with pytest.raises(InputError, match=r"accuracy of annotator 'x' must be a number in \(0, 1\], got 1.5; the chance of giving the true label$"):
        SimulatedAnnotator(1.5, name="x")


def test_simulated_pool_spreads_accuracies_and_rebuilds_from_spec():
    pool = simulated_annotators(5, (0.65, 0.95), random_state=3)
    assert [a.name for a in pool] == [f"annotator_{i}" for i in range(1, 6)]
    np.testing.assert_allclose([a.accuracy for a in pool], [0.65, 0.725, 0.8, 0.875, 0.95])
    assert len({a.random_state for a in pool}) == 5
    twin = annotator_from_spec(pool[2].spec())
    t = truth(100)
    pool[2].prepare(classes=CLASSES, true_labels=t)
    twin.prepare(classes=CLASSES, true_labels=t)
    assert twin.annotate(pd.DataFrame(index=t.index)) == pool[2].annotate(pd.DataFrame(index=t.index))


def test_simulated_annotator_needs_true_labels():
    with pytest.raises(InputError, match="needs the true labels"):
        SimulatedAnnotator(0.8, name="s").prepare(classes=CLASSES)


@pytest.fixture
def examples(images):
    return images.iloc[:4].drop(columns=["label"])


def terminal(text, classes=CLASSES):
    out = io.StringIO()
    annotator = TerminalAnnotator("me", input=io.StringIO(text), output=out)
    annotator.prepare(classes=classes)
    return annotator, out


def test_terminal_accepts_numbers_names_and_skip(examples):
    annotator, out = terminal("2\nFox\ns\n1\n")
    assert list(annotator.annotate(examples)) == ["dog", "fox", None, "cat"]
    text = out.getvalue()
    assert "1) cat  2) dog  3) fox" in text and "[1/4] example 0:" in text and "(16x16 px)" in text
    assert "open it with:" in text  # StringIO is not a terminal: no inline preview


def test_terminal_reprompts_on_a_bad_answer(examples):
    annotator, out = terminal("purple\n9\n\n3\n")
    assert next(iter(annotator.annotate(examples))) == "fox"
    assert out.getvalue().count("is not a class") == 2


def test_terminal_quit_and_end_of_input_stop_safely(examples):
    annotator, _ = terminal("1\nq\n")
    answers = annotator.annotate(examples)
    assert next(answers) == "cat"
    with pytest.raises(StopAnnotation, match="me stopped"):
        next(answers)
    annotator, _ = terminal("")
    with pytest.raises(StopAnnotation, match="end of input"):
        next(iter(annotator.annotate(examples)))


def test_terminal_integer_classes_are_typed_as_themselves(examples):
    annotator, out = terminal("7\n0\n", classes=[0, 7])
    assert list(annotator.annotate(examples.iloc[:2])) == [7, 0]
    assert "classes: 0, 7" in out.getvalue()


def test_inline_preview_is_half_blocks(images):
    lines = image_preview(images["image_path"].iloc[0], width=8).split("\n")
    assert len(lines) == 4 and all(line.count("\u2580") == 8 and line.endswith("\x1b[0m") for line in lines)


def test_who_answers_later_is_the_same_from_the_objects_and_from_the_saved_settings():
    """answering_later(settings) (the server and the Label Studio files read settings) names exactly the annotators
    whose rebuilt objects have answers_later (the session reads objects)."""
    from autoal.annotation.annotators import ExternalAnnotator, OracleAnnotator, PageAnnotator, SimulatedAnnotator
    from autoal.annotation.specs import annotator_from_spec, answering_later
    from autoal.annotation.terminal import TerminalAnnotator

    team = [OracleAnnotator(name="o"), SimulatedAnnotator(0.9, name="s", random_state=1), ExternalAnnotator("e"),
            PageAnnotator("p"), TerminalAnnotator("t")]
    settings = {"annotator_names": [a.name for a in team], "annotators": [a.spec() for a in team]}
    rebuilt = [annotator_from_spec(spec) for spec in settings["annotators"]]
    assert answering_later(settings) == [a.name for a in rebuilt if a.answers_later] == ["e", "p"]
