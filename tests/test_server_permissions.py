"""Every route of the labelling server declares who may use it, and a route that declares nothing is caught.

The run is real (page annotators alice and bob) but served without a round driver: these tests ask only
who may reach each route.
"""

import pytest
from flask import Blueprint
from serving import make_run

from autoal.server import access, app as app_module, issue_links
from autoal.server.app import create_app
from autoal.server.labelling import RunFacts
from autoal.server.permissions import TOKEN_IN_FORM, declared, needs, undeclared_endpoints
from autoal.server.signin import UNAUTHORISED

ANNOTATOR, ORGANISER = frozenset({access.ANNOTATOR}), frozenset({access.ORGANISER})
#: Every route and who it is declared for (the route tables of the blueprints' modules).
EXPECTED = {
    "/label": ANNOTATOR, "/api/queue": ANNOTATOR, "/api/answer": ANNOTATOR, "/api/edit": ANNOTATOR,
    "/api/undo": ANNOTATOR, "/signin": frozenset({TOKEN_IN_FORM}),
    "/organiser": ORGANISER, "/organiser/panel": ORGANISER,
    "/organiser/<any(labels, consensus, annotators):what>.csv": ORGANISER, "/api/status": ORGANISER,
    "/api/train": ORGANISER, "/api/settings": ORGANISER, "/api/annotators": ORGANISER,
    "/api/annotators/<name>/link": ORGANISER,
    "/image/<example_id>": ANNOTATOR | ORGANISER, "/favicon.ico": ANNOTATOR | ORGANISER,
}


@pytest.fixture
def run(tmp_path):
    run_dir, _, session = make_run(tmp_path, n_per_class=6, given_per_class=2)
    session.state.close()
    links = issue_links(run_dir, "http://localhost")
    return RunFacts(run_dir), {name: link.split("token=")[1] for _, name, link in links}


def test_every_route_declares_who_may_use_it(run):
    app = create_app(run[0])
    assert undeclared_endpoints(app) == []
    assert {rule.rule: declared(app, rule.endpoint) for rule in app.url_map.iter_rules()} == EXPECTED
    app.extensions["autoal"]["desks"].close()


def test_a_route_added_without_a_declaration_is_named_and_open_to_no_one(run):
    facts, tokens = run
    app = create_app(facts)

    @app.get("/forgotten")
    def forgotten():
        return "what no one declared"

    assert undeclared_endpoints(app) == ["forgotten"]
    response = app.test_client().get("/forgotten")
    assert response.status_code == 401 and response.get_data(as_text=True) == UNAUTHORISED
    for name in ("organiser", "alice"):
        response = app.test_client().get(f"/forgotten?token={tokens[name]}")
        assert response.status_code == 403 and "declares who may use it nowhere" in response.get_json()["error"]
    app.extensions["autoal"]["desks"].close()


def test_an_app_is_not_made_with_a_blueprint_route_that_declares_nothing(run, monkeypatch):
    extra = Blueprint("extra", __name__)

    @extra.get("/open")
    def open_page():
        return "open to all?"

    @extra.get("/declared")
    @needs(access.ORGANISER)
    def declared_page():
        return "organiser only"

    monkeypatch.setattr(app_module, "BLUEPRINTS", app_module.BLUEPRINTS + (extra,))
    with pytest.raises(RuntimeError, match=r"\['extra\.open_page'\]"):
        create_app(run[0])


@pytest.mark.parametrize("who", [(), ("admin",), (access.ANNOTATOR, "everyone")])
def test_a_declaration_names_only_known_roles(who):
    with pytest.raises(ValueError, match="needs\\(\\) takes"):
        needs(*who)
