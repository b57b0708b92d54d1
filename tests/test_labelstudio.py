"""The Label Studio round trip: export-labelstudio, import-labelstudio, and a real Label Studio server in between.

The first tests check the files and every rejection with hand-written exports; the last one starts a
real ``label-studio==1.23.2`` from ``.venv-labelstudio`` (scripts/setup_test_tools.sh), creates a
project through its API with autoal's labeling config, imports autoal's tasks, checks that Label
Studio serves autoal's images from the local-files URLs, lets two Label Studio users answer through
the API, and reads Label Studio's own export back with ``autoal import-labelstudio``.
"""

import ast
import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from serving import labels_of, make_run, table_rows, train_round_zero

from autoal.cli.commands import main
from autoal.errors import InputError
from autoal.labelstudio.answers import import_labelstudio, parse_user_map
from autoal.labelstudio.tasks import LOCAL_FILES, export_labelstudio

ROOT = Path(__file__).resolve().parents[1]
LABEL_STUDIO = Path(os.environ.get("AUTOAL_LABEL_STUDIO", ROOT / ".venv-labelstudio" / "bin" / "label-studio"))


@pytest.fixture
def waiting(tmp_path):
    """A run with page annotators alice and bob whose round 1 (6 new examples, 3 each) waits for answers,
    driven through the session's steps."""
    run_dir, truth, session = make_run(tmp_path, relabel=False)
    train_round_zero(session, deal_next=True)
    return run_dir, truth


def open_tasks(run_dir, annotator=None):
    tasks_path, config_path, root = export_labelstudio(run_dir, annotator, image_root=run_dir.parent)
    return json.loads(tasks_path.read_text()), config_path, root


def answer(task_id, example_id, label=None, *, user=1, cancelled=False, annotation_id=1):
    result = [] if label is None else [{"from_name": "label", "to_name": "image", "type": "choices",
                                       "value": {"choices": [label]}}]
    return {"id": task_id, "data": {"example_id": example_id},
            "annotations": [{"id": annotation_id, "completed_by": user, "result": result, "was_cancelled": cancelled}]}


def test_export_writes_tasks_with_local_files_urls_predictions_and_a_matching_config(waiting, capsys):
    run_dir, truth = waiting
    assert main(["export-labelstudio", str(run_dir), "--image-root", str(run_dir.parent)]) == 0
    tasks = json.loads((run_dir / "labelstudio" / "round_01_tasks.json").read_text())
    assert len(tasks) == 6 and not any("predictions" in t for t in tasks)  # no model guess unless asked for
    capsys.readouterr()
    assert main(["export-labelstudio", str(run_dir), "--image-root", str(run_dir.parent), "--predictions", "new"]) == 0
    printed = capsys.readouterr().out
    tasks_path = run_dir / "labelstudio" / "round_01_tasks.json"
    config_path = run_dir / "labelstudio" / "labeling_config.xml"
    assert f"wrote {tasks_path}" in printed and f"wrote {config_path}" in printed
    assert f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={run_dir.parent}" in printed
    tasks = json.loads(tasks_path.read_text())
    assert len(tasks) == 6 and sorted(t["data"]["autoal_annotators"][0] for t in tasks) == ["alice"] * 3 + ["bob"] * 3
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        run_id = json.loads(dict(db.execute("SELECT key, value FROM meta"))["run_id"])
    for task in tasks:
        data = task["data"]
        assert data["example_id"] in truth and data["autoal_round"] == 1
        assert data["image"].startswith(LOCAL_FILES + "images/")
        assert (run_dir.parent / data["image"][len(LOCAL_FILES):]).is_file()
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == f"autoal-{run_id[:8]}-round-1"
        assert 0 <= prediction["score"] <= 1
        assert prediction["result"][0]["value"]["choices"][0] in ("red", "green", "blue")
    config = ET.fromstring(config_path.read_text())
    assert [c.get("value") for c in config.iter("Choice")] == ["blue", "green", "red"]
    assert config.find("Choices").get("name") == "label" and config.find("Image").get("value") == "$image"
    alice_only, _, _ = open_tasks(run_dir, "alice")
    assert len(alice_only) == 3 and {t["data"]["autoal_annotators"][0] for t in alice_only} == {"alice"}
    (paths_task, *_), = [json.loads(export_labelstudio(run_dir, "bob", paths=True)[0].read_text())]
    assert Path(paths_task["data"]["image"]).is_absolute()


def test_predictions_new_leaves_the_guess_out_of_relabels_and_all_keeps_it(waiting):
    """A relabel (an example someone labelled, asked again) carries the model's guess only with "all"."""
    import numpy as np

    from autoal.labelstudio.tasks import batch_tasks
    from autoal.store.run_state import open_run

    run_dir, _ = waiting
    state = open_run(run_dir)
    try:
        relabel = int(state.snapshot().labelled[0])
        state.assign(1, [(relabel, "bob")])  # asked of bob again, with the probabilities it was picked with
        state.store.save_probabilities("pick", 1, {relabel: np.array([0.2, 0.5, 0.3])})
        guessed = {mode: {t["data"]["example_id"] for t in batch_tasks(state, predictions=mode)[0] if "predictions" in t}
                   for mode in ("none", "new", "all")}
        relabel_id = str(state.ids[relabel])
    finally:
        state.close()
    assert guessed["none"] == set() and len(guessed["new"]) == 6 and relabel_id not in guessed["new"]
    assert guessed["all"] == guessed["new"] | {relabel_id}
    with pytest.raises(InputError, match="--predictions must be one of 'none', 'new', 'all', got 'yes'; none: no model guess"):
        export_labelstudio(run_dir, predictions="yes")


def test_export_refuses_what_it_cannot_write(waiting, tmp_path):
    run_dir, _ = waiting
    with pytest.raises(InputError, match="'carol' is not in this run"):
        export_labelstudio(run_dir, "carol")
    with pytest.raises(InputError, match=r"6 images are not under --image-root .*pass a folder that holds every image"):
        export_labelstudio(run_dir, image_root=tmp_path / "elsewhere")
    with pytest.raises(InputError, match="not an autoal run folder"):
        export_labelstudio(tmp_path / "nothing")


def test_activelab_scores_rank_the_batch_like_cleanlab(waiting):
    """The exported score is cleanlab's ActiveLab score of each example, on the stored labels and probabilities."""
    from cleanlab.multiannotator import get_active_learning_scores

    from autoal.labelstudio.tasks import _stored_probs, activelab_scores
    from autoal.store.run_state import open_run

    run_dir, _ = waiting
    state = open_run(run_dir)
    try:
        snapshot = state.snapshot()
        _, positions, _ = snapshot.pending()
        probs = _stored_probs(state)
        labelled = [p for p in snapshot.labelled.tolist() if p in probs]
        ours = activelab_scores(state, positions)
        import numpy as np

        matrix = snapshot.matrix(labelled, snapshot.annotators_used())
        if len(labelled):
            _, expected = get_active_learning_scores(matrix, np.array([probs[p] for p in labelled]),
                                                     np.array([probs[int(p)] for p in positions]))
        else:
            expected = [(probs[int(p)].max() + 1 / 3) / 2 for p in positions]
        assert np.allclose([ours[int(p)] for p in positions], expected)
    finally:
        state.close()


def test_import_stores_good_answers_and_reports_every_bad_one_by_task(waiting, tmp_path, capsys):
    run_dir, truth = waiting
    tasks, _, _ = open_tasks(run_dir)
    alice = [t["data"]["example_id"] for t in tasks if t["data"]["autoal_annotators"] == ["alice"]]
    bob = [t["data"]["example_id"] for t in tasks if t["data"]["autoal_annotators"] == ["bob"]]
    export = [
        answer(1, alice[0], truth[alice[0]], user=1),
        answer(2, alice[1], user=1, cancelled=True),  # can't tell: a skip
        answer(3, alice[2], "purple", user=1),  # not a class
        answer(4, bob[0], truth[bob[0]], user=2),
        answer(5, bob[1], truth[bob[1]], user=1),  # alice answering bob's example
        answer(6, bob[2], truth[bob[2]], user=7),  # a user nobody mapped
        answer(7, alice[0], "red", user=1, annotation_id=9),  # the same example again
        {"id": 8, "data": {"image": "x.png"}, "annotations": []},  # not one of autoal's tasks
        {"id": 9, "data": {"example_id": bob[2]}, "annotations": []},  # nobody answered it
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    users = tmp_path / "users.json"  # Label Studio's own user list: id -> email, the email's name part is the annotator
    users.write_text(json.dumps([{"id": 1, "email": "alice@example.com", "username": ""},
                                 {"id": 2, "email": "bob@example.com", "username": "bob"}]))
    assert main(["import-labelstudio", str(run_dir), str(path), "--user-map", str(users)]) == 1
    out = capsys.readouterr().out
    assert "read 9 tasks; stored 2 labels (alice: 1, bob: 1), 1 skip (was_cancelled); 1 task without an answer" in out
    assert f"task 3 (annotation 1, example '{alice[2]}'): 'purple' is not a class" in out
    assert f"task 5 (annotation 1, example '{bob[1]}'): example '{bob[1]}' was never assigned to alice" in out
    assert "task 6 (annotation 1" in out and "Label Studio user 7 is not mapped" in out and "--user-map 7=NAME" in out
    assert f"task 7 (annotation 9, example '{alice[0]}'): example '{alice[0]}' appears again (first in task 1)" in out
    assert "task 8: it has no data.example_id" in out
    stored = labels_of(run_dir)
    stored = stored[stored["annotator"].isin(["alice", "bob"])]
    assert sorted(stored[["example_id", "annotator", "label"]].itertuples(index=False, name=None)) == sorted(
        [(alice[0], "alice", truth[alice[0]]), (bob[0], "bob", truth[bob[0]])])
    assert [(r[1]) for r in table_rows(run_dir)["skips"]] == ["alice"]
    before = table_rows(run_dir)
    again = import_labelstudio(run_dir, path, user_map=users)  # the same file again stores nothing new
    assert again.stored == 0 and again.skipped == 0 and table_rows(run_dir) == before
    assert any("already labelled" in why for _, why in again.rejected)
    assert any("already skipped" in why for _, why in again.rejected)


def test_import_with_one_annotator_and_inline_user_maps(waiting, tmp_path):
    run_dir, truth = waiting
    tasks, _, _ = open_tasks(run_dir, "bob")
    path = tmp_path / "bob.json"
    path.write_text(json.dumps([answer(k, t["data"]["example_id"], truth[t["data"]["example_id"]], user=99)
                                for k, t in enumerate(tasks)]))
    report = import_labelstudio(run_dir, path, annotator="bob")
    assert (report.stored, report.rejected) == (3, [])
    assert parse_user_map("1=alice, bob@x.org=bob") == {"1": "alice", "bob@x.org": "bob"}
    assert parse_user_map({3: "carol"}) == {"3": "carol"}
    emails = tmp_path / "e.json"
    emails.write_text(json.dumps([answer(1, "1", "red", user={"id": 4, "email": "carol@x.org"})]))
    report = import_labelstudio(run_dir, emails, user_map="4=dave")
    assert "maps to 'dave', which is not an annotator of this run" in report.rejected[0][1]


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not JSON"),
    ('{"tasks": []}', "is not a Label Studio JSON export"),
    ('[{"image": "a.png", "label": "red", "id": 1}]', "JSON_MIN or a task import file"),
    ('[1, 2]', "is not a Label Studio JSON export"),
])
def test_import_refuses_files_that_are_not_json_exports(waiting, tmp_path, content, message):
    run_dir, _ = waiting
    path = tmp_path / "bad.json"
    path.write_text(content)
    before = table_rows(run_dir)
    with pytest.raises(InputError, match=message):
        import_labelstudio(run_dir, path)
    with pytest.raises(InputError, match="does not exist"):
        import_labelstudio(run_dir, tmp_path / "missing.json")
    with pytest.raises(InputError, match="user map entry '1:alice' is not USER=NAME"):
        import_labelstudio(run_dir, path, user_map="1:alice")
    assert table_rows(run_dir) == before


def test_import_refuses_an_annotator_who_is_not_in_the_run(waiting, tmp_path):
    run_dir, truth = waiting
    path = tmp_path / "export.json"
    example = next(iter(truth))
    path.write_text(json.dumps([answer(1, example, truth[example])]))
    before = table_rows(run_dir)
    with pytest.raises(InputError, match=r"annotator 'carol' is not in this run; its annotators are \['alice', 'bob'\]"):
        import_labelstudio(run_dir, path, annotator="carol")
    assert table_rows(run_dir) == before


# -- a real Label Studio --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabelStudio:
    """A Label Studio server started for one test, spoken to through its HTTP API."""

    def __init__(self, folder: Path, document_root: Path):
        self.folder, self.port, self.document_root = folder, free_port(), document_root
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = "autoal" + os.urandom(12).hex()
        self.env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=str(folder / "data"), HOME=str(folder),
                        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
                        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(document_root))
        self.log = open(folder / "label_studio.log", "wb")
        self.process = subprocess.Popen(
            [str(LABEL_STUDIO), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(self.port),
             "--username", "alice@example.com", "--password", "alice-password-1", "--user-token", self.token,
             "--enable-legacy-api-token"], stdout=self.log, stderr=subprocess.STDOUT, env=self.env, cwd=folder)

    def wait(self, timeout=240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "label_studio.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        else:
            raise AssertionError(f"Label Studio did not answer /health in {timeout} s")
        if self.call("GET", "/api/current-user/whoami", raw=True)[0] == 401:
            # legacy tokens off for the organisation (ENVIRONMENT.md): switch them on in its store
            with sqlite3.connect(self.folder / "data" / "label_studio.sqlite3") as db:
                db.execute("UPDATE jwt_auth_jwtsettings SET legacy_api_tokens_enabled = 1")

    def call(self, method, path, body=None, *, token=None, raw=False):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Token {token or self.token}",
                                                  **({"Content-Type": "application/json"} if body is not None else {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                data = response.read()
                return (response.status, data) if raw else json.loads(data)
        except urllib.error.HTTPError as exc:
            if raw:
                return exc.code, exc.read()
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def user_token(self, email) -> str:
        """A user's API token, from Label Studio's own command line (``label-studio user``)."""
        out = subprocess.run([str(LABEL_STUDIO), "user", "--username", email], env=self.env, cwd=self.folder,
                             capture_output=True, text=True, timeout=180).stdout
        line = next(line for line in out.splitlines() if line.startswith("{") and "'token'" in line)
        return ast.literal_eval(line)["token"]

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
        self.log.close()


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """One real Label Studio for this module's tests (it takes ~40 s to start), serving local files from under
    pytest's base temporary folder (every test's tmp_path), with alice (the admin) and bob as users."""
    if not LABEL_STUDIO.is_file():
        pytest.skip(f"{LABEL_STUDIO} is missing: bash scripts/setup_test_tools.sh installs label-studio==1.23.2 there")
    folder = tmp_path_factory.mktemp("label_studio")
    server = LabelStudio(folder, tmp_path_factory.getbasetemp())
    try:
        server.wait()
        server.bob = server.call("POST", "/api/users/", {"email": "bob@example.com", "username": "bob",
                                                         "password": "bob-password-1"})
        server.bob_token = server.user_token("bob@example.com")
        yield server
    finally:
        server.close()


@pytest.mark.labelstudio
def test_round_trip_through_a_real_label_studio(waiting, tmp_path, capsys, studio):
    run_dir, truth = waiting
    root = studio.document_root  # Label Studio's local-files document root: the images are under it
    assert main(["export-labelstudio", str(run_dir), "--image-root", str(root), "--predictions", "all"]) == 0
    tasks_path = run_dir / "labelstudio" / "round_01_tasks.json"
    config = (run_dir / "labelstudio" / "labeling_config.xml").read_text()
    exported = json.loads(tasks_path.read_text())
    bob_user, bob_token = studio.bob, studio.bob_token
    project = studio.call("POST", "/api/projects/", {"title": "autoal round 1", "label_config": config})
    imported = studio.call("POST", f"/api/projects/{project['id']}/import", exported)
    assert imported["task_count"] == 6 and imported["prediction_count"] == 6
    tasks = studio.call("GET", f"/api/tasks/?project={project['id']}&page_size=100")["tasks"]
    by_example = {t["data"]["example_id"]: t for t in tasks}
    assert set(by_example) == {t["data"]["example_id"] for t in exported}
    # a Local files storage that covers the images (imported as tasks, not synced) lets Label Studio serve them
    studio.call("POST", "/api/storages/localfiles/", {"project": project["id"], "title": "autoal images",
                                                      "path": str(tmp_path / "images"), "use_blob_urls": True})
    first = tasks[0]["data"]["image"]  # Label Studio serves autoal's image from the local-files URL
    status, image = studio.call("GET", first, raw=True)
    assert status == 200 and image == (root / first[len(LOCAL_FILES):]).read_bytes()
    predictions = studio.call("GET", f"/api/predictions/?project={project['id']}")
    assert {p["model_version"] for p in predictions} == {exported[0]["predictions"][0]["model_version"]}
    assert sorted(p["score"] for p in predictions) == sorted(t["predictions"][0]["score"] for t in exported)

    def annotate(example_id, token, label=None, cancelled=False):
        result = [] if label is None else [{"from_name": "label", "to_name": "image", "type": "choices",
                                           "value": {"choices": [label]}}]
        studio.call("POST", f"/api/tasks/{by_example[example_id]['id']}/annotations/",
                    {"result": result, "was_cancelled": cancelled}, token=token)

    mine = {name: [t["data"]["example_id"] for t in exported if t["data"]["autoal_annotators"] == [name]]
            for name in ("alice", "bob")}
    a, b = mine["alice"], mine["bob"]
    annotate(a[0], studio.token, truth[a[0]])  # alice, the Label Studio admin
    annotate(a[1], studio.token, truth[a[1]])
    annotate(a[2], studio.token, cancelled=True)  # can't tell
    annotate(b[0], bob_token, truth[b[0]])  # bob, with his own token
    wrong = next(c for c in ("red", "green", "blue") if c != truth[b[1]])
    annotate(b[1], bob_token, wrong)
    annotate(a[0], bob_token, truth[a[0]])  # bob answers one of alice's: not assigned to him
    status, data = studio.call("GET", f"/api/projects/{project['id']}/export?exportType=JSON", raw=True)
    assert status == 200
    users = studio.call("GET", "/api/users/")
    export = tmp_path / "export.json"
    export.write_bytes(data)
    (tmp_path / "users.json").write_text(json.dumps(users))
    assert {a["completed_by"] for t in json.loads(data) for a in t["annotations"]} == {1, bob_user["id"]}
    capsys.readouterr()
    assert main(["import-labelstudio", str(run_dir), str(export), "--user-map", str(tmp_path / "users.json")]) == 1
    out = capsys.readouterr().out
    # Label Studio leaves tasks nobody answered out of its export (download_all_tasks=false by default)
    assert "read 5 tasks; stored 4 labels (alice: 2, bob: 2), 1 skip (was_cancelled); 0 tasks without an answer" in out
    assert f"example '{a[0]}' was never assigned to bob" in out and "rejected 1 annotation:" in out
    stored = labels_of(run_dir)
    stored = stored[stored["annotator"].isin(["alice", "bob"])]
    assert sorted(stored[["example_id", "annotator", "label", "round"]].itertuples(index=False, name=None)) == sorted(
        [(a[0], "alice", truth[a[0]], 1), (a[1], "alice", truth[a[1]], 1), (b[0], "bob", truth[b[0]], 1),
         (b[1], "bob", wrong, 1)])
    assert [r[1] for r in table_rows(run_dir)["skips"]] == ["alice"]
    left, _, _ = open_tasks(run_dir)  # what is still open: bob's unanswered example only
    assert [t["data"]["example_id"] for t in left] == [b[2]]


# -- autoal labelstudio push / pull / sync against the real Label Studio ----------------------------------


def sdk(studio, token=None):
    from label_studio_sdk import LabelStudio as Client

    return Client(base_url=studio.url, api_key=token or studio.token)


def project_tasks(client, title) -> list:
    """``[(task id, data), ...]`` of the project titled ``title``."""
    (project,) = [p for p in client.projects.list() if p.title == title]
    return [(t.id, t.data) for t in client.tasks.list(project=project.id, page_size=500)]


def choose(label):
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


def connection(studio, title):
    return ["--url", studio.url, "--token", studio.token, "--title", title]


@pytest.mark.labelstudio
def test_push_pull_and_sync_a_full_round_with_two_users(waiting, capsys, studio, monkeypatch):
    import threading

    from autoal.labelstudio.sync import sync

    run_dir, truth = waiting
    title = "autoal live round trip"
    push = ["labelstudio", "push", str(run_dir), "--image-root", str(studio.document_root)] + connection(studio, title)
    assert main(push) == 0
    assert f"project '{title}' (created" in capsys.readouterr().out
    admin, bob = sdk(studio), sdk(studio, studio.bob_token)
    access_token = admin.tokens.create().token  # a personal access token, what Label Studio 1.23 offers people
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", access_token)
    assert main([a for a in push if a not in ("--token", studio.token)]) == 0  # again, with it: nothing added
    assert "pushed 0 tasks (rounds -), 6 were there already" in capsys.readouterr().out
    tasks = project_tasks(admin, title)
    assert len(tasks) == 6 and {d["autoal_round"] for _, d in tasks} == {1}
    (project,) = [p for p in admin.projects.list() if p.title == title]
    assert not [p for p in admin.predictions.list(project=project.id)]  # no model guess unless --predictions
    assert [s.path for s in admin.import_storage.local.list(project=project.id)] == [str(run_dir.parent / "images")]
    task_of = {d["example_id"]: t for t, d in tasks}
    mine = {n: [d["example_id"] for _, d in tasks if d["autoal_annotators"] == [n]] for n in ("alice", "bob")}
    tabs = {v.data["title"]: v.id for v in admin.views.list(project=project.id) if v.data.get("title") in mine}
    assert len(tabs) == 2 and admin.projects.get(id=project.id).maximum_annotations == 2
    for name, tab in tabs.items():  # each person's tab holds the tasks given to them, and only those
        assert sorted(t.data["example_id"] for t in admin.tasks.list(project=project.id, view=tab)) == sorted(mine[name])
    a, b = mine["alice"], mine["bob"]
    admin.annotations.create(id=task_of[a[0]], result=choose(truth[a[0]]))  # alice is the admin
    admin.annotations.create(id=task_of[a[1]], result=choose(truth[a[1]]))
    admin.annotations.create(id=task_of[a[2]], result=[], was_cancelled=True)  # can't tell: a skip
    bob.annotations.create(id=task_of[b[0]], result=choose(truth[b[0]]))
    bob.annotations.create(id=task_of[a[0]], result=choose(truth[a[0]]))  # not bob's: refused

    pull = ["labelstudio", "pull", str(run_dir)] + connection(studio, title)
    assert main(pull + ["--user", "alice@example.com=carol"]) == 1  # a user mapped to no annotator: nothing stored
    out = capsys.readouterr().out
    assert "Label Studio user alice@example.com maps to 'carol', which is not an annotator of this run" in out
    assert "stored 1 label (bob: 1)" in out and f"example '{a[0]}' was never assigned to bob" in out
    assert list(labels_of(run_dir, "bob")["example_id"]) == [b[0]] and labels_of(run_dir, "alice").empty
    assert main(pull) == 0  # matched by email now; what was dealt with is not read again
    out = capsys.readouterr().out
    assert "stored 2 labels (alice: 2), 1 skip" in out and "rejected" not in out
    assert f"round 1 still waits for bob (2 examples); `autoal resume {run_dir} --partial`" in out
    stored = labels_of(run_dir)
    assert sorted(stored[stored["annotator"].isin(["alice", "bob"])][["example_id", "annotator", "label"]].itertuples(
        index=False, name=None)) == sorted([(a[0], "alice", truth[a[0]]), (a[1], "alice", truth[a[1]]),
                                            (b[0], "bob", truth[b[0]])])
    assert [r[1] for r in table_rows(run_dir)["skips"]] == ["alice"]

    bob.annotations.create(id=task_of[b[1]], result=choose(truth[b[1]]))
    bob.annotations.create(id=task_of[b[2]], result=choose(truth[b[2]]))  # the batch is answered
    lines, stop = [], threading.Event()
    looping = threading.Thread(target=lambda: lines.append(sync(
        run_dir, url=studio.url, token=studio.token, title=title, image_root=studio.document_root, poll=0.2,
        log=lines.append, stop=stop)))
    looping.start()
    try:
        deadline = time.monotonic() + 300
        while not any(d["autoal_round"] == 2 for _, d in project_tasks(admin, title)):
            assert looping.is_alive() and time.monotonic() < deadline, lines
            time.sleep(0.5)
    finally:
        stop.set()
        looping.join(120)
    assert not looping.is_alive() and lines[-1] == "stopped", lines
    assert any("round 1 trained" in line for line in lines), lines
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        assert [r for (r,) in db.execute("SELECT round FROM rounds ORDER BY round")] == [0, 1]
    left, _, _ = open_tasks(run_dir)  # round 2's batch, in autoal and in Label Studio, each example once
    second = [d for _, d in project_tasks(admin, title) if d["autoal_round"] == 2]
    assert len(second) == 6 and sorted(d["example_id"] for d in second) == sorted(t["data"]["example_id"] for t in left)
    assert len(project_tasks(admin, title)) == 12

    # the command, as people start it, stops on Ctrl+C with everything kept, and pushes nothing twice
    import signal
    import sys

    process = subprocess.Popen([sys.executable, "-m", "autoal.cli", "labelstudio", "sync", str(run_dir), "--url",
                                studio.url, "--title", title, "--image-root", str(studio.document_root)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env=dict(os.environ, LABEL_STUDIO_API_KEY=studio.token))
    try:
        assert process.stdout.readline().startswith(f"autoal labelstudio sync: {run_dir} with {studio.url}")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, out + err
    assert f"stopped; every answer pulled is in the run store. `autoal labelstudio sync {run_dir}` goes on" in err
    assert len(project_tasks(admin, title)) == 12


@pytest.mark.labelstudio
def test_push_uses_label_studio_s_root_checks_an_image_and_mends_tasks_with_broken_urls(waiting, capsys, studio,
                                                                                       tmp_path):
    from autoal.labelstudio.tasks import batch_tasks, labeling_config
    from autoal.store.run_state import open_run

    run_dir, truth = waiting
    title, wrong = "autoal image roots", run_dir.parent  # the folder above the images: what push used to assume
    assert wrong != studio.document_root  # Label Studio serves from a folder above it
    state = open_run(run_dir)
    old_tasks, _ = batch_tasks(state, root=wrong)  # what an earlier push made: every image URL 404s
    state.close()
    admin = sdk(studio)
    project = admin.projects.create(title=title, label_config=labeling_config(["red", "green", "blue"]))
    admin.projects.import_tasks(id=project.id, request=old_tasks)
    admin.import_storage.local.create(project=project.id, path=str(tmp_path / "images"), use_blob_urls=True)
    assert studio.call("GET", old_tasks[0]["data"]["image"], raw=True)[0] == 404
    push = ["labelstudio", "push", str(run_dir)] + connection(studio, title)
    assert main(push + ["--image-root", str(wrong)]) == 2  # refused, naming both roots; nothing imported
    err = capsys.readouterr().err
    assert f"relative to {wrong}" in err and f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT is {studio.document_root}" in err
    assert f"--image-root {studio.document_root}" in err
    assert len(project_tasks(admin, title)) == 6
    assert main(push) == 0  # Label Studio's own root, learnt from it: the old tasks mended, one image fetched
    out = capsys.readouterr().out
    assert "pushed 0 tasks (rounds -), 6 were there already (6 of them with new image URLs)" in out
    assert "an image loads through Label Studio" in out
    for _, data in project_tasks(admin, title):
        status, image = studio.call("GET", data["image"], raw=True)
        assert status == 200 and image == (studio.document_root / data["image"][len(LOCAL_FILES):]).read_bytes()


@pytest.mark.labelstudio
def test_a_corrected_answer_is_read_again_and_later_edits_are_named(waiting, capsys, studio):
    """An annotation rejected by pull (a class not in the run) and then corrected in Label Studio is read again
    and stored; an answer stored and then edited or deleted in Label Studio stays as stored, and pull says so."""
    run_dir, truth = waiting
    title = "autoal corrected answers"
    assert main(["labelstudio", "push", str(run_dir), "--image-root", str(studio.document_root)]
                + connection(studio, title)) == 0
    admin, bob = sdk(studio), sdk(studio, studio.bob_token)
    tasks = project_tasks(admin, title)
    task_of = {d["example_id"]: t for t, d in tasks}
    mine = {n: [d["example_id"] for _, d in tasks if d["autoal_annotators"] == [n]] for n in ("alice", "bob")}
    a, b = mine["alice"], mine["bob"]
    wrong = bob.annotations.create(id=task_of[b[0]], result=choose("purple"))  # not a class of the run
    first = admin.annotations.create(id=task_of[a[0]], result=choose(truth[a[0]]))
    second = admin.annotations.create(id=task_of[a[1]], result=choose(truth[a[1]]))
    pull = ["labelstudio", "pull", str(run_dir)] + connection(studio, title)
    capsys.readouterr()
    assert main(pull) == 1
    out = capsys.readouterr().out
    assert "'purple' is not a class" in out and "stored 2 labels (alice: 2)" in out
    assert main(pull) == 0 and "rejected" not in capsys.readouterr().out  # unchanged: not read again

    bob.annotations.update(id=wrong.id, result=choose(truth[b[0]]))  # bob corrects it in Label Studio
    assert main(pull) == 0
    assert "stored 1 label (bob: 1)" in capsys.readouterr().out
    assert labels_of(run_dir, "bob")[["example_id", "label"]].values.tolist() == [[b[0], truth[b[0]]]]

    other = next(c for c in ("red", "green", "blue") if c != truth[a[0]])
    admin.annotations.update(id=first.id, result=choose(other))  # edited after autoal stored it
    admin.annotations.delete(id=second.id)  # deleted after autoal stored it
    assert main(pull) == 0
    out = capsys.readouterr().out
    assert f"1 answer edited in Label Studio after autoal stored it (annotations {first.id})" in out
    assert f"1 answer deleted in Label Studio after autoal stored it (annotations {second.id})" in out
    assert "autoal keeps the answers it stored" in out
    alice = labels_of(run_dir, "alice").set_index("example_id")["label"].to_dict()
    assert alice == {a[0]: truth[a[0]], a[1]: truth[a[1]]}


# -- autoal labelstudio: what is refused before Label Studio is reached -----------------------------------


def test_live_commands_refuse_bad_settings_with_the_fix(waiting, tmp_path, monkeypatch, capsys):
    import sys

    from autoal.errors import MissingDependencyError
    from autoal.labelstudio.project import connect
    from autoal.labelstudio.pull import pull
    from autoal.labelstudio.push import push
    from autoal.labelstudio.sync import sync

    run_dir, _ = waiting
    before = table_rows(run_dir)
    with pytest.raises(InputError, match="--url must be Label Studio's address"):
        connect("localhost:8080", "t")
    with pytest.raises(InputError, match="pass --token \\(or set LABEL_STUDIO_API_KEY\\)"):
        connect("http://localhost:8080", None)
    with pytest.raises(InputError, match="--predictions must be one of 'none', 'new', 'all', got 'some'"):
        push(run_dir, url="http://localhost:8080", token="t", predictions="some")
    with pytest.raises(InputError, match="is the folder holding the images itself.*LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="
                       + str(run_dir.parent)):
        push(run_dir, url="http://localhost:8080", token="t", image_root=run_dir.parent / "images")
    with pytest.raises(InputError, match=r"--poll must be a number > 0, got 0; seconds between looks"):
        sync(run_dir, url="http://localhost:8080", token="t", poll=0)
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(InputError, match=f"cannot reach Label Studio at {nobody} .*is it running, and is --url its"):
        pull(run_dir, url=nobody, token="t")
    monkeypatch.setitem(sys.modules, "label_studio_sdk", None)  # the SDK not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'label-studio-sdk>=2.1.2,<2.2'"):
        push(run_dir, url="http://localhost:8080", token="t")
    assert main(["labelstudio", "pull", str(tmp_path / "nothing"), "--token", "t"]) == 2
    assert "not an autoal run folder" in capsys.readouterr().err
    assert table_rows(run_dir) == before
