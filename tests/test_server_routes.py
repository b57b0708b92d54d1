"""Every route of the labelling server through Flask's test client, and every bad request: a 4xx, nothing stored.

The run is real (page annotators alice and bob, the fast learner, a background round driver that
trains round 0 on the given labels and hands out round 1's batch of 6); the requests go through the
real app, and what is stored is read back with plain sqlite3.
"""

import json
import re
import sqlite3

import pytest
from serving import labels_of, make_run, serve_in_process, table_rows, train_round_zero

from autoal.server import access, figures, settings
from autoal.server.json_body import MAX_BODY
from autoal.server.signin import COOKIES, UNAUTHORISED


@pytest.fixture
def served(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False)  # new examples only: every one has a guess
    served = serve_in_process(run_dir, truth, session)
    served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
    yield served
    served.driver.stop()


def queue(client):
    response = client.get("/api/queue")
    assert response.status_code == 200
    return response.get_json()


def open_ids(served, name):
    with sqlite3.connect(served.run_dir / "run.sqlite") as db:
        rows = db.execute("SELECT e.example_id FROM assignments s JOIN examples e ON e.pos = s.example "
                          "WHERE s.annotator = ? AND NOT EXISTS (SELECT 1 FROM annotations n WHERE n.example = s.example "
                          "AND n.annotator = s.annotator) ORDER BY s.rowid", (name,)).fetchall()
    return [str(json.loads(r[0])) for r in rows]


def never_assigned_id(served):
    with sqlite3.connect(served.run_dir / "run.sqlite") as db:
        row = db.execute("SELECT example_id FROM examples WHERE split = 'pool' AND pos NOT IN "
                         "(SELECT example FROM assignments) AND pos NOT IN (SELECT example FROM annotations) LIMIT 1").fetchone()
    return str(json.loads(row[0]))


ANNOTATOR_GETS = ["/label", "/api/queue"]
ANNOTATOR_POSTS = ["/api/answer", "/api/edit", "/api/undo"]
ORGANISER_GETS = ["/organiser", "/organiser/panel", "/api/status"]
ORGANISER_POSTS = ["/api/train", "/api/settings", "/api/annotators", "/api/annotators/alice/link"]


def every_route(example_id):
    gets = ANNOTATOR_GETS + ORGANISER_GETS + [f"/image/{example_id}", "/favicon.ico", "/", "/no-such-page"]
    return [("GET", u) for u in gets] + [("POST", u) for u in ANNOTATOR_POSTS + ORGANISER_POSTS]


@pytest.mark.parametrize("token", [None, "", "wrong-token-of-the-right-length-000000000000", "x" * 5000, "alice"])
def test_no_or_a_wrong_token_gets_401_and_sees_nothing(served, token):
    example = open_ids(served, "alice")[0]
    before = table_rows(served.run_dir)
    client = served.app.test_client()
    for method, url in every_route(example):
        full = url if token is None else f"{url}?token={token}"
        response = client.open(full, method=method, json={"example_id": example, "label": "red"})
        assert response.status_code == 401, (method, url)
        assert response.get_data(as_text=True) == UNAUTHORISED  # nothing about the run
        assert "Set-Cookie" not in response.headers
    for cookie in COOKIES.values():  # a forged cookie fares no better
        client.set_cookie(cookie, (token or "nothing")[:100])
    assert client.post("/api/answer", json={"example_id": example, "label": "red"}).status_code == 401
    assert table_rows(served.run_dir) == before


def test_token_is_swapped_for_an_httponly_strict_cookie_and_stored_only_as_a_hash(served):
    client = served.app.test_client()
    token = served.tokens["alice"]
    first = client.get(f"/label?token={token}")
    assert first.status_code == 200
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIES['annotator']}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert first.headers["Referrer-Policy"] == "no-referrer" and first.headers["Cache-Control"] == "no-store"
    assert "history.replaceState" in first.get_data(as_text=True)  # the page drops the token from the address bar
    again = client.get("/api/queue")  # the cookie alone now
    assert again.status_code == 200 and again.get_json()["name"] == "alice" and "Set-Cookie" not in again.headers
    raw = (served.run_dir / "run.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in served.run_dir.glob("run.sqlite-*"))
    assert token.encode() not in raw  # only its hash is kept
    with sqlite3.connect(served.run_dir / "run.sqlite") as db:
        stored = dict(db.execute("SELECT name, hash FROM server_tokens WHERE role = 'annotator'").fetchall())
    assert re.fullmatch(r"[0-9a-f]{64}", stored["alice"])


def test_roles_are_kept_apart(served):
    alice, organiser = served.client("alice"), served.client("organiser")
    before = table_rows(served.run_dir)
    for url in ORGANISER_GETS:
        assert alice.get(url).status_code == 401, url  # her cookie is not the organiser's
        assert alice.get(f"{url}?token={served.tokens['alice']}").status_code == 403, url
    for url in ORGANISER_POSTS:
        assert alice.post(url, json={}).status_code == 401, url
        assert alice.post(f"{url}?token={served.tokens['alice']}", json={}).status_code == 403, url
    for url in ANNOTATOR_GETS:
        assert organiser.get(url).status_code == 401, url
        assert organiser.get(f"{url}?token={served.tokens['organiser']}").status_code == 403, url
    example = open_ids(served, "alice")[0]
    assert organiser.post(f"/api/answer?token={served.tokens['organiser']}",
                          json={"example_id": example, "label": "red"}).status_code == 403
    assert table_rows(served.run_dir) == before


def test_one_browser_can_hold_an_annotator_page_and_the_organiser_page(served):
    both = served.app.test_client()
    assert both.get(f"/label?token={served.tokens['alice']}").status_code == 200
    assert both.get(f"/organiser?token={served.tokens['organiser']}").status_code == 200
    assert both.get("/api/queue").get_json()["name"] == "alice"  # each page by its own cookie
    assert both.get("/api/status").status_code == 200
    example = open_ids(served, "alice")[0]
    assert both.post("/api/answer", json={"example_id": example, "label": "red"}).status_code == 200
    assert labels_of(served.run_dir, "alice")["example_id"].tolist() == [example]


def test_annotator_page_shows_their_queue_progress_and_every_class(served):
    alice = served.client("alice")
    page = alice.get("/label").get_data(as_text=True)
    for colour in ("red", "green", "blue"):
        assert f'data-label="{colour}"' in page
    state = queue(alice)
    mine = open_ids(served, "alice")
    assert state["item"]["example_id"] == mine[0] and state["left"] == len(mine) == 3
    assert state["progress"] == {"round": 1, "done": 0, "assigned": 3, "older_open": 0}
    assert state["item"]["guess"] is None  # the model's guess is off by default
    assert f'data-example-id="{mine[0]}"' in page


def test_answers_skip_undo_and_edit_store_exactly_what_was_given(served):
    alice = served.client("alice")
    first, second, third = open_ids(served, "alice")
    truth = served.truth
    state = alice.post("/api/answer", json={"example_id": first, "label": truth[first]}).get_json()
    assert state["progress"]["done"] == 1 and state["item"]["example_id"] == second
    assert state["recent"][0] == {"example_id": first, "label": truth[first], "skipped": False,
                                  "image": f"/image/{first}"}
    alice.post("/api/answer", json={"example_id": second, "skip": True})
    labels = labels_of(served.run_dir, "alice")
    assert labels[["example_id", "label", "round"]].values.tolist() == [[first, truth[first], 1]]
    assert table_rows(served.run_dir)["skips"][0][1] == "alice"
    undone = alice.post("/api/undo", json={}).get_json()
    assert undone["undone"] == {"example_id": second, "kind": "skip"} and undone["item"]["example_id"] == second
    assert table_rows(served.run_dir)["skips"] == []
    other = next(c for c in ("red", "green", "blue") if c != truth[first])
    edited = alice.post("/api/edit", json={"example_id": first, "label": other})
    assert edited.status_code == 200
    assert labels_of(served.run_dir, "alice")["label"].tolist() == [other]
    alice.post("/api/undo", json={})  # undo the edit: back to the first answer
    assert labels_of(served.run_dir, "alice")["label"].tolist() == [truth[first]]
    alice.post("/api/undo", json={})  # undo the answer itself
    assert labels_of(served.run_dir, "alice").empty
    response = alice.post("/api/undo", json={})
    assert response.status_code == 409 and response.get_json()["error"] == "nothing to undo"
    # a skip turned into a label from the recent answers, and back by undo
    alice.post("/api/answer", json={"example_id": first, "skip": True})
    assert alice.post("/api/edit", json={"example_id": first, "label": truth[first]}).status_code == 200
    assert labels_of(served.run_dir, "alice")["example_id"].tolist() == [first] and table_rows(served.run_dir)["skips"] == []
    alice.post("/api/undo", json={})
    assert labels_of(served.run_dir, "alice").empty and len(table_rows(served.run_dir)["skips"]) == 1
    assert third in open_ids(served, "alice")


BAD_BODIES = [
    ("malformed JSON", b'{"example_id": "1", "label": ', "application/json", 400),
    ("not an object", b'["red"]', "application/json", 400),
    ("not JSON at all", b"example_id=1&label=red", "application/x-www-form-urlencoded", 415),
    ("oversized", b'{"example_id": "1", "label": "' + b"r" * (MAX_BODY + 10) + b'"}', "application/json", 413),
]


@pytest.mark.parametrize("what,data,mimetype,status", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_malformed_and_oversized_bodies_are_refused_on_every_post(served, what, data, mimetype, status):
    alice, organiser = served.client("alice"), served.client("organiser")
    before = table_rows(served.run_dir)
    for client, url in [(alice, u) for u in ANNOTATOR_POSTS] + [(organiser, u) for u in ORGANISER_POSTS]:
        response = client.post(url, data=data, content_type=mimetype)
        assert response.status_code == status, (url, response.get_json())
        assert "error" in response.get_json()
    assert table_rows(served.run_dir) == before


def test_bad_answers_are_refused_with_a_reason_and_nothing_stored(served):
    alice = served.client("alice")
    mine, bobs = open_ids(served, "alice"), open_ids(served, "bob")
    outside = never_assigned_id(served)
    before = table_rows(served.run_dir)
    cases = [
        ({"example_id": bobs[0], "label": "red"}, 403, "assigned to another annotator"),
        ({"example_id": bobs[0], "skip": True}, 403, "assigned to another annotator"),
        ({"example_id": outside, "label": "red"}, 403, "not in any batch assigned to you"),
        ({"example_id": "no-such-id", "label": "red"}, 404, "no such example"),
        ({"example_id": mine[0], "label": "purple"}, 422, "not a class of this run"),
        ({"example_id": mine[0], "label": ""}, 422, "not a class"),
        ({"example_id": mine[0], "label": 3}, 400, "label must be a class name"),
        ({"example_id": mine[0], "label": ["red"]}, 400, "label must be a class name"),
        ({"example_id": ["x"], "label": "red"}, 400, "example_id must be"),
        ({"example_id": mine[0], "label": "red", "round": 9}, 400, "unknown field"),
        ({"example_id": mine[0], "label": "red", "skip": True}, 400, "to answer or"),
        ({"example_id": mine[0], "skip": False}, 400, "to answer or"),
        ({"label": "red"}, 400, "missing field"),
        ({"example_id": mine[0] + "/../" + mine[1], "label": "red"}, 404, "no such example"),
    ]
    for payload, status, message in cases:
        response = alice.post("/api/answer", json=payload)
        assert response.status_code == status, (payload, response.get_json())
        assert message in response.get_json()["error"], (payload, response.get_json())
    assert alice.post("/api/edit", json={"example_id": bobs[0], "label": "red"}).status_code == 403
    assert alice.post("/api/edit", json={"example_id": mine[0], "label": "red"}).status_code == 409
    assert alice.post("/api/undo", json={"example_id": mine[0]}).status_code == 400
    assert table_rows(served.run_dir) == before


def test_an_answer_given_twice_is_stored_once(served):
    alice = served.client("alice")
    example = open_ids(served, "alice")[0]
    assert alice.post("/api/answer", json={"example_id": example, "label": "red"}).status_code == 200
    again = alice.post("/api/answer", json={"example_id": example, "label": "blue"})
    assert again.status_code == 409 and "already answered" in again.get_json()["error"]
    assert alice.post("/api/answer", json={"example_id": example, "skip": True}).status_code == 409
    assert labels_of(served.run_dir, "alice")[["example_id", "label"]].values.tolist() == [[example, "red"]]
    assert table_rows(served.run_dir)["skips"] == []


def test_images_are_served_by_example_id_to_those_who_hold_them(served, tmp_path):
    alice, organiser = served.client("alice"), served.client("organiser")
    mine, bobs = open_ids(served, "alice"), open_ids(served, "bob")
    facts = served.app.extensions["autoal"]["facts"]
    path = dict(zip(facts.id_text, facts.image_paths))
    response = alice.get(f"/image/{mine[0]}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data == open(path[mine[0]], "rb").read()
    assert alice.get(f"/image/{bobs[0]}").status_code == 403  # not hers
    assert alice.get(f"/image/{never_assigned_id(served)}").status_code == 403
    assert organiser.get(f"/image/{bobs[0]}").status_code == 200  # the organiser sees every example
    assert alice.get("/image/no-such-id").status_code == 404
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    for url in ["/image/../../../../etc/passwd", "/image/..%2F..%2F..%2Fetc%2Fpasswd", "/image/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                f"/image/{secret}", "/image/" + str(secret).replace("/", "%2F"), "/image/..", "/image/%2e%2e",
                f"/image/{mine[0]}%2F..%2F..%2Fsecret.txt", "/image/%00"]:
        for client in (alice, organiser):
            response = client.get(url)
            assert response.status_code == 404, url
            assert b"root:" not in response.data and b"top secret" not in response.data


def test_path_traversal_in_the_annotator_name_route_is_refused(served):
    organiser = served.client("organiser")
    before = table_rows(served.run_dir)
    for name in ["..", "..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "%2e%2e", "alice%2F..%2Fbob", "alice/../bob",
                 "given", "organiser", "no-one", "%00"]:
        response = organiser.post(f"/api/annotators/{name}/link", json={})
        assert response.status_code in (404, 405), name
    assert table_rows(served.run_dir) == before


def test_organiser_page_status_settings_and_adding_an_annotator(served):
    organiser = served.client("organiser")
    page = organiser.get("/organiser").get_data(as_text=True)
    assert 'id="round-number">1<' in page and "Train now" in page and "<svg" in page  # round 0's curve point
    status = organiser.get("/api/status").get_json()
    assert status["status"]["phase"] == "labelling" and status["status"]["round"] == 1
    assert [r["round"] for r in status["history"]] == [0]
    assert status["pending"] == {"alice": 3, "bob": 3}
    assert {a["name"] for a in status["annotators"]} >= {"alice", "bob", "given"}
    assert organiser.post("/api/settings", json={"show_guess_new": True, "reassign_after_minutes": 15}).status_code == 200
    assert settings.get_settings(sqlite3.connect(served.run_dir / "run.sqlite"))["reassign_after_minutes"] == 15.0
    for bad in [{"show_guess_new": "yes"}, {"reassign_after_minutes": -1}, {"reassign_after_minutes": "ten"},
                {"base_url": "http://x"}, {"nonsense": 1}]:
        response = organiser.post("/api/settings", json=bad)
        assert response.status_code == 400, bad
    alice = served.client("alice")
    assert queue(alice)["item"]["guess"]["label"] in ("red", "green", "blue")  # now shown for new examples
    added = organiser.post("/api/annotators", json={"name": "carol"})
    assert added.status_code == 201
    link = added.get_json()["link"]
    assert link.startswith("http://localhost/label?token=")
    carol = served.app.test_client()
    assert carol.get("/api/queue?token=" + link.split("token=")[1]).get_json()["name"] == "carol"
    for bad, message in [("carol", "already an annotator"), ("../x", "not allowed"), ("given", "reserved"),
                         ("a" * 41, "not allowed"), ("", "not allowed")]:
        response = organiser.post("/api/annotators", json={"name": bad})
        assert response.status_code == 400 and message in response.get_json()["error"], bad
    relinked = organiser.post("/api/annotators/carol/link", json={}).get_json()["link"]
    assert carol.get("/api/queue?token=" + link.split("token=")[1]).status_code == 401  # the old link stopped working
    assert carol.get("/api/queue?token=" + relinked.split("token=")[1]).status_code == 200


def test_train_now_trains_the_round_and_serves_the_next_batch(served):
    organiser, alice = served.client("organiser"), served.client("alice")
    first = open_ids(served, "alice")[0]
    alice.post("/api/answer", json={"example_id": first, "label": served.truth[first]})
    response = organiser.post("/api/train", json={})
    assert response.status_code == 202 and "training round 1" in response.get_json()["message"]
    status = served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 2, 60)
    assert status["rounds_trained"] == 2
    history = organiser.get("/api/status").get_json()["history"]
    assert [r["round"] for r in history] == [0, 1] and history[1]["n_labeled"] == 10
    state = queue(alice)  # round 1's two open examples first, then round 2's
    assert state["progress"]["round"] == 2 and state["progress"]["older_open"] == 2 and state["item"]["round"] == 1


def test_a_relabel_shows_neither_the_other_answer_nor_by_default_the_guess(served):
    alice, bob, organiser = served.client("alice"), served.client("bob"), served.client("organiser")
    example = open_ids(served, "bob")[0]
    bob.post("/api/answer", json={"example_id": example, "label": "green"})
    with sqlite3.connect(served.run_dir / "run.sqlite") as db:  # hand it to alice for a second opinion
        pos = db.execute("SELECT pos FROM examples WHERE example_id = ?", (json.dumps(int(example)),)).fetchone()[0]
        db.execute("INSERT INTO assignments VALUES (0, ?, 'alice', 0)", (pos,))
    text = json.dumps(queue(alice))
    assert example in text and "green" not in text and "bob" not in text
    organiser.post("/api/settings", json={"show_guess_new": True})
    state = queue(alice)
    assert state["item"]["example_id"] == example and state["item"]["guess"] is None  # relabels: still off
    organiser.post("/api/settings", json={"show_guess_relabel": True})
    assert queue(alice)["item"]["guess"] is not None
    assert alice.get(f"/image/{example}").status_code == 200


def test_unknown_routes_and_methods_with_a_valid_token(served):
    alice = served.client("alice")
    assert alice.get("/no-such-page").status_code == 404
    assert alice.get("/api/answer").status_code == 405
    assert alice.delete("/api/queue").status_code == 405


def test_train_now_with_nothing_new_is_refused_and_deals_no_batch(served):
    organiser, alice = served.client("organiser"), served.client("alice")
    before = table_rows(served.run_dir)
    response = organiser.post("/api/train", json={})  # round 0 was trained; nobody has answered since
    assert response.status_code == 409 and "nothing new to train on" in response.get_json()["error"]
    assert table_rows(served.run_dir) == before  # no batch dealt on top of the open ones
    status = organiser.get("/api/status").get_json()
    assert [r["round"] for r in status["history"]] == [0] and status["status"]["rounds_trained"] == 1
    assert status["pending"] == {"alice": 3, "bob": 3} and status["new_answers"] == 0
    assert 'nothing for "Train now" yet' in organiser.get("/organiser/panel").get_data(as_text=True)
    first, second, _ = open_ids(served, "alice")
    alice.post("/api/answer", json={"example_id": first, "label": served.truth[first]})
    assert organiser.get("/api/status").get_json()["new_answers"] == 1
    assert organiser.post("/api/train", json={}).status_code == 202
    served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 2, 60)
    assert organiser.post("/api/train", json={}).status_code == 409  # round 1 trained on it: nothing new again
    desk = served.app.extensions["autoal"]["desks"].get()
    other = next(c for c in ("red", "green", "blue") if c != served.truth[first])
    alice.post("/api/edit", json={"example_id": first, "label": other})  # a changed answer is new
    assert figures.news(desk) == 1
    response = organiser.post("/api/train", json={})
    assert response.status_code == 202 and "1 new answer" in response.get_json()["message"]


def test_rounds_trained_counts_the_rounds_recorded_before_a_restart(tmp_path):
    from autoal.rounds.loop import resume_session

    run_dir, truth, session = make_run(tmp_path, relabel=False)
    train_round_zero(session)
    served = serve_in_process(run_dir, truth, resume_session(run_dir, verbose=False))
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        status = served.client("organiser").get("/api/status").get_json()
        assert status["status"]["rounds_trained"] == len(status["history"]) == 1
    finally:
        served.driver.stop()


def test_holdout_accuracy_is_shown_with_its_size_and_a_warning_when_small(served):
    organiser = served.client("organiser")
    facts = served.app.extensions["autoal"]["facts"]
    assert 0 < facts.holdout_size < 50  # this small run keeps a few labelled images aside
    status = organiser.get("/api/status").get_json()
    assert status["holdout"] == facts.holdout_size
    page = organiser.get("/organiser").get_data(as_text=True)
    accuracy = status["history"][-1]["accuracy"]
    assert f'id="accuracy">{accuracy:.3f}<' in page
    assert re.search(rf'id="holdout">on {facts.holdout_size} holdout images?, after round 0', page)
    assert f"Only {facts.holdout_size} holdout image" in page and 'id="holdout-warning"' in page
    facts.holdout_size = 340
    page = organiser.get("/organiser/panel").get_data(as_text=True)
    assert "on 340 holdout images" in page and "holdout-warning" not in page


def test_learning_curve_with_one_point_has_axis_titles_and_one_x_tick(served):
    page = served.client("organiser").get("/organiser").get_data(as_text=True)
    svg = page[page.index("<svg"):page.index("</svg>")]
    n_labeled = served.client("organiser").get("/api/status").get_json()["history"][0]["n_labeled"]
    assert ">holdout accuracy</text>" in svg and ">labelled examples</text>" in svg
    assert re.findall(r'class="xtick"[^>]*>([^<]*)<', svg) == [str(n_labeled)]


def test_undo_is_offered_only_when_there_is_something_to_undo(served):
    alice = served.client("alice")
    assert queue(alice)["can_undo"] is False
    assert re.search(r'<button id="undo"[^>]*disabled', alice.get("/label").get_data(as_text=True))
    example = open_ids(served, "alice")[0]
    assert alice.post("/api/answer", json={"example_id": example, "label": "red"}).get_json()["can_undo"] is True
    assert not re.search(r'<button id="undo"[^>]*disabled', alice.get("/label").get_data(as_text=True))
    assert alice.post("/api/undo", json={}).get_json()["can_undo"] is False


def test_organiser_sees_labels_per_class_and_where_annotators_disagree(served):
    import pandas as pd

    alice, bob, organiser = served.client("alice"), served.client("bob"), served.client("organiser")
    shared, agreed = open_ids(served, "bob")[:2]
    with sqlite3.connect(served.run_dir / "run.sqlite") as db:  # both asked of alice too, as relabels are
        for example in (shared, agreed):
            pos = db.execute("SELECT pos FROM examples WHERE example_id = ?", (json.dumps(int(example)),)).fetchone()[0]
            db.execute("INSERT INTO assignments VALUES (1, ?, 'alice', 0)", (pos,))
    assert organiser.get("/api/status").get_json()["disagreements"] == {"total": 0, "shown": []}
    bob.post("/api/answer", json={"example_id": shared, "label": "green"})
    bob.post("/api/answer", json={"example_id": agreed, "label": "blue"})
    alice.post("/api/answer", json={"example_id": shared, "label": "red"})
    alice.post("/api/answer", json={"example_id": agreed, "label": "blue"})
    status = organiser.get("/api/status").get_json()
    assert status["disagreements"] == {"total": 1, "shown": [{
        "example_id": shared, "image": f"/image/{shared}",
        "answers": [{"annotator": "bob", "label": "green"}, {"annotator": "alice", "label": "red"}]}]}
    labels = labels_of(served.run_dir)
    votes = labels.groupby(["example_id", "label"]).size().unstack(fill_value=0)
    top = votes.eq(votes.max(axis=1), axis=0)  # each example's most frequent answer(s)
    expected = [{"name": c, "annotations": int((labels["label"] == c).sum()), "examples": int(top.get(c, pd.Series(dtype=bool)).sum())}
                for c in served.app.extensions["autoal"]["facts"].class_names]  # the run's class order
    assert status["class_counts"] == expected and sum(c["annotations"] for c in expected) == len(labels)
    page = organiser.get("/organiser").get_data(as_text=True)
    assert "Annotators disagree on 1 example<" in page and "bob <i>green</i>, alice <i>red</i>" in page
    assert page.count("<tr><td>red</td>") == 1
