"""End to end in a real headless browser: Debian's chromium, driven by Playwright for Python.

An annotator opens their link and labels three images (a click, a number key, type-to-filter and
Enter), undoes the last one; the store then holds exactly the two expected rows. The organiser page
shows the next round after "train now". Screenshots are saved as test artefacts in
``$AUTOAL_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the checkout).
"""

import os
from pathlib import Path

import pytest
from serving import labels_of, make_run, serve_http

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("AUTOAL_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (bash scripts/setup_test_tools.sh)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (bash scripts/setup_test_tools.sh)")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1200, "height": 800})
        context.set_default_timeout(60_000)
        yield context
        context.close()


def shown_example(page) -> str:
    page.wait_for_selector("#image:not([hidden])")
    return page.get_attribute("#image", "data-example-id")


def next_example(page, previous) -> str:
    # selectors only: the page's Content-Security-Policy forbids eval, which wait_for_function would need
    page.wait_for_selector(f'#image:not([hidden]):not([data-example-id="{previous}"])')
    return shown_example(page)


def test_annotator_labels_by_click_key_and_filter_undoes_one_and_organiser_trains(tmp_path, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run_dir, truth, session = make_run(tmp_path, names=("alice", "bob"), batch_size=8, relabel=False)
    server, tokens = serve_http(run_dir, session)
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
        page = browser.new_page()
        console_errors = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.url}/label?token={tokens['alice']}")
        assert "token=" not in page.url  # dropped from the address bar
        classes = page.eval_on_selector_all("#classes .cls", "bs => bs.map(b => b.dataset.label)")
        assert sorted(classes) == ["blue", "green", "red"]
        assert page.inner_text("#progress-text").startswith("0 / 4 done in this batch")

        first = shown_example(page)
        page.click(f'#classes .cls[data-label="{truth[first]}"]')  # by clicking
        second = next_example(page, first)
        page.keyboard.press(str(classes.index(truth[second]) + 1))  # by its number key
        third = next_example(page, second)
        page.keyboard.type(truth[third][:3])  # type to filter, Enter picks the first match
        assert page.eval_on_selector_all("#classes .cls:not(.hidden)", "bs => bs.length") == 1
        page.keyboard.press("Enter")
        fourth = next_example(page, third)
        assert page.inner_text("#progress-text").startswith("3 / 4 done")
        assert len(labels_of(run_dir, "alice")) == 3
        page.keyboard.press("Control+z")  # undo the third answer: it comes back
        assert next_example(page, fourth) == third
        page.wait_for_selector("#recent li:nth-child(2)")
        assert page.eval_on_selector_all("#recent li", "items => items.length") == 2
        page.screenshot(path=str(ARTIFACTS / "annotator_page.png"))

        stored = labels_of(run_dir, "alice")
        assert stored[["example_id", "label", "round"]].values.tolist() == [[first, truth[first], 1], [second, truth[second], 1]]
        assert labels_of(run_dir, "bob").empty

        organiser = browser.new_page()  # the same browser: each page keeps its own cookie
        organiser.goto(f"{server.url}/organiser?token={tokens['organiser']}")
        assert organiser.inner_text("#round-number") == "1"
        assert "alice" in organiser.inner_text("#pending") and "bob" in organiser.inner_text("#pending")
        organiser.click("#train")
        organiser.wait_for_selector("#round-number:text-is('2')", timeout=120_000)
        organiser.wait_for_selector("#phase[data-phase='labelling']", timeout=120_000)
        assert organiser.inner_text("#rounds-trained") == "2"
        organiser.screenshot(path=str(ARTIFACTS / "organiser_page.png"), full_page=True)

        page.reload()  # alice's page, still signed in by its cookie, now shows round 2's batch after her open ones
        shown_example(page)
        assert "Round 2" in page.inner_text("#round")
        assert console_errors == []  # no CSP violation, no script error
    finally:
        server.close()
    assert (ARTIFACTS / "annotator_page.png").stat().st_size > 10_000
    assert (ARTIFACTS / "organiser_page.png").stat().st_size > 10_000


def test_type_to_filter_among_257_classes(tmp_path, browser):
    """Caltech-256 has 257 classes: the page lists them all, typing narrows the list, Enter answers."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    from autoal.annotation.annotators import PageAnnotator
    from autoal.rounds.loop import start_session

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    classes = [f"{k:03d}.class_{k}" for k in range(1, 258)]
    rows = []
    (tmp_path / "img").mkdir()
    for k, name in enumerate(classes):
        for i in range(3):
            path = tmp_path / "img" / f"{k}_{i}.png"
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
            rows.append({"label": name if i < 2 else np.nan, "image_path": str(path)})
    session = start_session(pd.DataFrame(rows), learner="fast", annotators=[PageAnnotator("ann")], batch_size=3,
                            n_rounds=1, holdout_fraction=0, output_dir=tmp_path / "run", verbose=False, simulate=False,
                            relabel=False)
    server, tokens = serve_http(tmp_path / "run", session)
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
        page = browser.new_page()
        page.goto(f"{server.url}/label?token={tokens['ann']}")
        first = shown_example(page)
        assert page.eval_on_selector_all("#classes .cls", "bs => bs.length") == 257
        assert page.get_attribute("#filter", "placeholder").startswith("Type to filter 257 classes")
        page.keyboard.type("class_12")  # typing anywhere starts the filter: class_12, class_120..129
        assert page.eval_on_selector_all("#classes .cls:not(.hidden)", "bs => bs.length") == 11
        page.keyboard.type("8")
        visible = page.eval_on_selector_all("#classes .cls:not(.hidden)", "bs => bs.map(b => b.dataset.label)")
        assert visible == ["128.class_128"]
        page.keyboard.press("Enter")
        second = next_example(page, first)
        page.keyboard.press("9")  # the filter was cleared: 9 is the ninth class of the full list
        next_example(page, second)
        page.screenshot(path=str(ARTIFACTS / "annotator_page_257_classes.png"))
    finally:
        server.close()
    stored = labels_of(tmp_path / "run", "ann")
    assert stored[["example_id", "label"]].values.tolist() == [[first, "128.class_128"], [second, classes[8]]]


def box(page, selector) -> dict:
    return page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); "
                                           "return {x: r.x, y: r.y, width: r.width, height: r.height}; }")


def test_phone_width_layout_zoom_key_legend_undo_and_focus(tmp_path, browser):
    """From 360 px wide: the image spans the screen, the class buttons answer; a click or Space zooms; Undo is
    disabled with nothing to undo; a disabled button keeps no focus ring; the organiser page fits too."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run_dir, truth, session = make_run(tmp_path, names=("alice", "bob"), batch_size=8, relabel=False)
    server, tokens = serve_http(run_dir, session)
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
        page = browser.new_page()
        page.set_viewport_size({"width": 360, "height": 740})
        page.goto(f"{server.url}/label?token={tokens['alice']}")
        first = shown_example(page)
        assert page.is_disabled("#undo")  # nothing to undo yet
        assert box(page, "#image")["width"] >= 0.8 * 360
        assert page.eval_on_selector("html", "e => e.scrollWidth") <= 360  # nothing sticks out sideways
        assert not page.is_visible("#legend")  # no keyboard on a phone: the legend gives way to the image
        style = page.eval_on_selector("#progress", "e => [getComputedStyle(e).appearance, getComputedStyle(e).borderTopWidth]")
        assert style == ["none", "0px"]  # a bar, not a field
        button = f'#classes .cls[data-label="{truth[first]}"]'
        assert page.is_visible(button) and box(page, button)["width"] >= 100
        page.click(button)  # Playwright clicks only what is visible, enabled and not covered
        second = next_example(page, first)
        assert labels_of(run_dir, "alice")["example_id"].tolist() == [first]
        assert page.is_enabled("#undo")
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(ARTIFACTS / "annotator_page_390px.png"), full_page=True)

        small = box(page, "#image")
        page.click("#image")  # a click zooms
        page.wait_for_selector("#stage.zoomed")
        assert box(page, "#image")["height"] > small["height"]
        page.keyboard.press(" ")  # Space toggles it back
        page.wait_for_selector("#stage:not(.zoomed)")
        page.keyboard.press(" ")
        page.wait_for_selector("#stage.zoomed")
        page.keyboard.press("Escape")
        page.wait_for_selector("#stage:not(.zoomed)")

        page.set_viewport_size({"width": 1200, "height": 800})
        assert page.is_visible("#legend") and "Space" in page.inner_text("#legend")
        page.screenshot(path=str(ARTIFACTS / "annotator_page_desktop.png"))
        classes = page.eval_on_selector_all("#classes .cls", "bs => bs.map(b => b.dataset.label)")
        third = second
        for _ in range(2):
            page.keyboard.press(str(classes.index(truth[third]) + 1))
            third = next_example(page, third)
        page.focus("#skip")
        page.keyboard.press("Enter")  # skip the last one from the keyboard: the button then turns disabled
        page.wait_for_selector("#image[hidden]", state="attached")
        assert page.is_disabled("#skip")
        assert page.eval_on_selector("#skip", "b => document.activeElement !== b && getComputedStyle(b).outlineStyle === 'none'")

        organiser = browser.new_page()
        organiser.set_viewport_size({"width": 360, "height": 740})
        organiser.goto(f"{server.url}/organiser?token={tokens['organiser']}")
        assert organiser.eval_on_selector("html", "e => e.scrollWidth") <= 360
        assert box(organiser, "#panel svg")["width"] >= 250 and organiser.is_visible("#train")
        organiser.set_viewport_size({"width": 390, "height": 844})
        organiser.screenshot(path=str(ARTIFACTS / "organiser_page_390px.png"), full_page=True)
    finally:
        server.close()


def test_the_organiser_page_at_390px_keeps_table_cells_whole_and_says_tables_scroll_sideways(tmp_path, browser):
    """At a phone's width no cell is cut ("never", not "neve"), the page itself does not scroll sideways, a wide
    table scrolls inside its box with a line saying so, and its last column (the "new link" buttons) is reached by
    scrolling it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run_dir, truth, session = make_run(tmp_path, names=("alice", "bob", "a_long_annotator_name"), batch_size=6,
                                       relabel=False)
    server, tokens = serve_http(run_dir, session)
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
        organiser = browser.new_page()
        organiser.set_viewport_size({"width": 390, "height": 844})
        organiser.goto(f"{server.url}/organiser?token={tokens['organiser']}")
        assert organiser.eval_on_selector("html", "e => e.scrollWidth") <= 390
        cut = organiser.eval_on_selector_all("#annotators td, #annotators th, #history td, #history th",
                                             "cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1)"
                                             ".map(c => c.textContent)")
        assert cut == [], f"cells cut short: {cut}"
        assert organiser.inner_text("#annotators td.seen") == "never"
        wide = organiser.eval_on_selector("#annotators", "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth,"
                                                          " getComputedStyle(t.parentElement).overflowX]")
        assert wide[0] > wide[1] and wide[2] == "auto", "the annotators table is wider than a phone and scrolls"
        assert organiser.is_visible(".wide:has(#annotators) + .scrollhint")
        organiser.eval_on_selector("#annotators", "t => { t.parentElement.scrollLeft = t.parentElement.scrollWidth; }")
        button, frame = box(organiser, "#annotators button.newlink"), box(organiser, "#annotators")
        container = organiser.eval_on_selector("#annotators", "t => t.parentElement.getBoundingClientRect().right")
        assert button["x"] + button["width"] <= container + 1 and button["x"] >= 0, (button, frame)
        organiser.screenshot(path=str(ARTIFACTS / "organiser_page_390px.png"), full_page=True)
    finally:
        server.close()


def test_a_page_on_another_site_cannot_switch_the_signed_in_annotator(tmp_path, browser):
    """Login CSRF: alice is signed in; a page on another site (``localhost`` is another site than ``127.0.0.1``)
    opens bob's link in her browser. She is asked instead of being switched, and her next answer is stored as
    hers; switching takes her own click on the server's page."""
    import http.server
    import threading

    run_dir, truth, session = make_run(tmp_path, names=("alice", "bob"), batch_size=8, relabel=False)
    server, tokens = serve_http(run_dir, session)
    evil_page = (f'<!doctype html><title>win a prize</title><script>location.href = "{server.url}/label?token='
                 f'{tokens["bob"]}";</script>').encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(evil_page)

        def log_message(self, *args):
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
        page = browser.new_page()
        page.goto(f"{server.url}/label?token={tokens['alice']}")
        shown_example(page)
        assert page.title() == "autoal · alice"

        page.goto(f"http://localhost:{evil.server_address[1]}/")  # the other site sends her to bob's link
        page.wait_for_selector("#switch")
        assert page.url.startswith(f"{server.url}/label?token=")
        assert page.inner_text("#current") == "alice" and page.inner_text("#arriving") == "bob"
        page.screenshot(path=str(ARTIFACTS / "signin_question.png"))
        page.click("#stay")  # go on as alice
        first = shown_example(page)
        assert page.title() == "autoal · alice"
        page.click(f'#classes .cls[data-label="{truth[first]}"]')
        next_example(page, first)
        assert labels_of(run_dir, "alice")["example_id"].tolist() == [first]
        assert labels_of(run_dir, "bob").empty

        page.goto(f"http://localhost:{evil.server_address[1]}/")  # asked again; now she does mean to switch
        page.click("#switch")
        bobs = shown_example(page)
        assert page.title() == "autoal · bob" and page.url == f"{server.url}/label"
        page.click(f'#classes .cls[data-label="{truth[bobs]}"]')
        next_example(page, bobs)
        assert labels_of(run_dir, "bob")["example_id"].tolist() == [bobs]
    finally:
        evil.shutdown()
        server.close()
