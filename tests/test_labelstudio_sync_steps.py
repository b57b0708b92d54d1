"""The Label Studio sync's looks, step by step: when it pushes, when it asks push to check an image, when it pulls.

Label Studio and the run are stood in for here (tests/test_labelstudio.py drives a real Label Studio through the
same loop); what is tested is the loop's own bookkeeping.
"""

from types import SimpleNamespace

from autoal.labelstudio import sync as sync_module
from autoal.labelstudio.answers import LabelStudioReport
from autoal.labelstudio.push import PushReport
from autoal.rounds.outcomes import Dealt, Trained, Waiting


class ScriptedSession:
    """A session whose round 1 has no batch until its first step deals one, then waits, then trains."""

    def __init__(self):
        self.next_round, self.dealt = 1, False
        self.state = SimpleNamespace(folder="RUN")
        self.outcomes = [Dealt(1), Waiting(1, {"bob": 1}, 6, "waits"), Trained(1, {"n_labeled": 6, "accuracy": 0.5})]

    def has_batch(self, r):
        return self.dealt

    def advance(self):
        outcome = self.outcomes.pop(0)
        self.dealt = True
        return outcome


def test_the_first_push_with_tasks_checks_an_image_even_when_the_first_look_found_no_batch(monkeypatch):
    pushes, pulls = [], []

    def push(folder, *, check_image, **where):
        with_tasks = session.dealt
        pushes.append((check_image, with_tasks, "project_id" in where))
        return PushReport("http://ls", 7, "t", False, 6 if with_tasks else 0, 0, [1] if with_tasks else [],
                          image_check="an image loads through Label Studio" if check_image and with_tasks else "")

    def pull(folder, **where):
        pulls.append(where["project_id"])
        return LabelStudioReport()

    monkeypatch.setattr(sync_module, "push", push)
    monkeypatch.setattr(sync_module, "pull", pull)
    session, where, lines = ScriptedSession(), {"url": "http://ls"}, []
    looks = sync_module._Looks()
    step = lambda: sync_module._step(session, where, None, "none", None, lines.append, looks)  # noqa: E731

    assert step() == ""  # no batch yet: the project is found (nothing to check or pull), then the batch is dealt
    assert pushes == [(True, False, False)] and pulls == [] and where["project_id"] == 7
    assert step() is None  # the batch is pushed, an image checked with it, the answers pulled: it waits
    assert pushes[1] == (True, True, True) and pulls == [7] and looks.image_checked
    assert step() == ""  # pushed once only; pulled again; trained
    assert len(pushes) == 2 and pulls == [7, 7]
    assert any("an image loads through Label Studio" in line for line in lines)
    assert any(line.startswith("autoal labelstudio sync: round 1 trained on 6 labelled examples") for line in lines)
