"""The labelling server on a hostile network, over real HTTP: idle and trickling connections do not lock anyone
out, a huge body is refused before it is read, links never come from the Host header, deep JSON is a 400,
and a link opened in a browser signed in as someone else does not switch people silently."""

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from serving import make_run, serve_http

from autoal.server import LabellingServer, issue_links
from autoal.server.app import create_app
from autoal.server.json_body import MAX_BODY
from autoal.server.labelling import RunFacts
from autoal.server.listener import create_listener
from autoal.server.signin import SIGNED_IN


@pytest.fixture
def served(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False)
    server, tokens = serve_http(run_dir, session)
    server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
    yield server, tokens, run_dir, truth
    server.close()


def host_port(url):
    host, port = url.split("//")[1].split(":")
    return host, int(port)


class Tricklers:
    """``n`` connections that each began a request and send one more byte of it every ``every`` seconds."""

    def __init__(self, url, n, every=1.0):
        self.address, self.every = host_port(url), every
        self.sockets = [socket.create_connection(self.address, timeout=10) for _ in range(n)]
        for s in self.sockets:
            s.sendall(b"GET /label HTTP/1.1\r\nHost: x\r\n")
        self._stop = threading.Event()
        self.closed_by_server = 0
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self):
        while not self._stop.wait(self.every):
            for s in list(self.sockets):
                try:
                    s.sendall(b"X")
                except OSError:
                    self.sockets.remove(s)
                    self.closed_by_server += 1

    def close(self):
        self._stop.set()
        self._thread.join(10)
        for s in self.sockets:
            s.close()


def timed_get(url, path, timeout=5.0):
    started = time.monotonic()
    with urllib.request.urlopen(url + path, timeout=timeout) as response:
        return response.status, time.monotonic() - started


def test_110_trickling_connections_do_not_lock_anyone_out(served):
    server, tokens, _, _ = served
    tricklers = Tricklers(server.url, 110)
    try:
        time.sleep(2)  # they are all in, each sending a byte a second
        status, seconds = timed_get(server.url, f"/api/queue?token={tokens['alice']}")
        assert status == 200 and seconds < 5
    finally:
        tricklers.close()


def test_a_request_that_trickles_is_cut_at_its_deadline(tmp_path):
    run_dir, _, session = make_run(tmp_path, relabel=False)
    server = LabellingServer(run_dir, session, port=0, tick=0.1, log=lambda line: None, request_seconds=2).start()
    try:
        tricklers = Tricklers(server.url, 5, every=0.5)
        try:
            deadline = time.monotonic() + 15
            while tricklers.closed_by_server < 5 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert tricklers.closed_by_server == 5  # each closed by the server about 2-3 s after its first byte
        finally:
            tricklers.close()
    finally:
        server.close()


def test_connections_beyond_the_limit_make_room_for_a_new_one(tmp_path):
    """With the limit at 40 and 120 trickling connections, a new request is still answered at once: the
    connections that are only waiting are closed, longest waiting first."""
    run_dir, _, session = make_run(tmp_path, relabel=False)
    session.state.close()
    links = issue_links(run_dir, "http://127.0.0.1")
    token = next(link.split("token=")[1] for _, name, link in links if name == "alice")
    app = create_app(RunFacts(run_dir))
    listener = create_listener(app, host="127.0.0.1", port=0, threads=4, max_body=MAX_BODY, limit=40)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.effective_port}"
    tricklers = Tricklers(url, 120, every=0.5)
    try:
        time.sleep(2)
        status, seconds = timed_get(url, f"/api/queue?token={token}")
        assert status == 200 and seconds < 5
        assert tricklers.closed_by_server > 0
    finally:
        tricklers.close()
        from waitress import wasyncore

        listener.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(listener._map)
        thread.join(10)
        app.extensions["autoal"]["desks"].close()


def test_a_huge_unauthenticated_body_is_refused_before_it_is_read(served):
    server, _, _, _ = served
    with socket.create_connection(host_port(server.url), timeout=10) as s:
        s.sendall(b"POST /api/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 300000000\r\n\r\n" + b"[" * 65536)  # 300 MB announced, 64 KiB sent
        s.settimeout(5)
        reply = s.recv(4096)  # answered now, not after 300 MB
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def post(url, path, body, *, token, host=None):
    address = host_port(url)
    connection = http.client.HTTPConnection(*address, timeout=30)
    headers = {"Content-Type": "application/json", "Cookie": f"autoal_organiser={token}"}
    if host is not None:
        headers["Host"] = host
    connection.request("POST", path, body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_links_come_from_the_servers_address_never_the_host_header(served):
    server, tokens, _, _ = served
    status, added = post(server.url, "/api/annotators", {"name": "carol"}, token=tokens["organiser"],
                         host="evil.example")
    assert status == 201 and added["link"].startswith(server.url + "/label?token="), added
    status, renewed = post(server.url, "/api/annotators/bob/link", {}, token=tokens["organiser"], host="evil.example")
    assert status == 200 and renewed["link"].startswith(server.url + "/label?token=") and "evil" not in renewed["link"]


def test_links_use_the_url_given_for_them(tmp_path):
    run_dir, _, session = make_run(tmp_path, relabel=False)
    server = LabellingServer(run_dir, session, port=0, tick=0.1, log=lambda line: None)
    links = issue_links(run_dir, "https://label.example.org")  # what `autoal serve --url` stores
    organiser = next(link.split("token=")[1] for role, _, link in links if role == "organiser")
    server.start()
    try:
        status, added = post(server.url, "/api/annotators", {"name": "carol"}, token=organiser, host="evil.example")
        assert status == 201 and added["link"].startswith("https://label.example.org/label?token=")
    finally:
        server.close()


@pytest.mark.parametrize("body", [b"[" * 2000 + b"]" * 2000, b'{"a":' * 600 + b"1" + b"}" * 600,
                                  b'{"example_id": [[["x"]]], "label": "red"}'])
def test_deeply_nested_json_is_a_400(served, body):
    server, tokens, _, _ = served
    assert len(body) <= MAX_BODY
    request = urllib.request.Request(f"{server.url}/api/answer?token={tokens['alice']}", data=body,
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    assert "nested more than 2 levels" in json.loads(caught.value.read())["error"]


def test_a_link_for_another_person_asks_instead_of_switching(served):
    server, tokens, _, _ = served
    address = host_port(server.url)

    def get(path, cookie):
        connection = http.client.HTTPConnection(*address, timeout=30)
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        return response.status, response.getheader("Set-Cookie") or "", response.read().decode()

    # from another site the token cookie (SameSite=Strict) is not sent; the Lax one saying who is signed in is
    status, cookies, page = get(f"/label?token={tokens['bob']}", f"{SIGNED_IN}=alice")
    assert status == 200 and cookies == "" and 'id="current">alice<' in page and 'id="arriving">bob<' in page
    status, cookies, page = get(f"/label?token={tokens['bob']}", f"autoal_annotator={tokens['alice']}")
    assert status == 200 and cookies == "" and 'id="current">alice<' in page
    status, cookies, _ = get(f"/label?token={tokens['alice']}", f"autoal_annotator={tokens['alice']}")
    assert status == 200 and "autoal_annotator=" in cookies  # one's own link: no question
    status, cookies, _ = get(f"/label?token={tokens['bob']}", "")
    assert status == 200 and "autoal_annotator=" in cookies and f"{SIGNED_IN}=bob" in cookies  # a fresh browser
    status, cookies, _ = get("/api/queue", f"autoal_annotator={tokens['alice']}")  # signed in before the marker
    assert status == 200 and f"{SIGNED_IN}=alice" in cookies and "autoal_annotator=" not in cookies
    status, cookies, _ = get("/api/queue", f"autoal_annotator={tokens['alice']}; {SIGNED_IN}=alice")
    assert status == 200 and cookies == ""  # marked already: nothing to set


@pytest.mark.parametrize("headers, status", [({}, 403), ({"Sec-Fetch-Site": "cross-site"}, 403),
                                             ({"Origin": "http://evil.example"}, 403),
                                             ({"Sec-Fetch-Site": "same-origin"}, 303)])
def test_switching_people_takes_a_same_origin_form(served, headers, status):
    server, tokens, _, _ = served
    connection = http.client.HTTPConnection(*host_port(server.url), timeout=30)
    connection.request("POST", "/signin", body=f"token={tokens['bob']}",
                       headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    response = connection.getresponse()
    assert response.status == status
    assert ("autoal_annotator=" in (response.getheader("Set-Cookie") or "")) == (status == 303)
