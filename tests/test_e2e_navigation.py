"""Deep links work on a fresh server: each page's URL, opened as the server's very first request, shows that page.

Streamlit treats a ``pages/`` folder beside the main script as an old-style
multipage app until ``st.navigation`` has run once in the process (see
ui/navigation.py), so the first request is the case that can go wrong: each
page gets its own new ``streamlit run``. The five servers start together and
are asked at once, so their first runs (importing torch, loading the UNTRAINED
fixture model) overlap. Screenshots go to test-artifacts/screenshots/deep_link_*.png.

The Analyze page is the default page, so its URL is the app's root, as its
navigation link says (Streamlit serves a default page at ``/`` only).
"""

from __future__ import annotations

from pathlib import Path

from ui_fixtures import (
    BROWSER_TEST,
    screenshot,
    start_streamlit,
    stop_streamlit,
)

pytestmark = BROWSER_TEST

LOAD_MS = 180_000  # five servers import torch at once on a busy 2-core machine
NAVIGATION = ["Analyze", "Webcam", "Batch", "Speed vs accuracy", "Model"]
# url path (as the navigation links to it) -> (the page's title, a CSS selector of something only that page draws)
DEEP_LINKS = {
    "": ("Deepfake Lens", ".st-key-analyze_run"),
    "webcam": ("Webcam", ".st-key-webcam_seconds"),
    "batch": ("Batch", ".st-key-batch_uploads"),
    "speed": ("Speed vs accuracy", ".st-key-speed_chart"),
    "model": ("Model", "[data-testid=stMetric]"),
}


def test_every_deep_link_is_the_first_request_of_a_fresh_server(browser, weights_with_card: Path,
                                                                 tmp_path: Path, failure_screenshots) -> None:
    servers = []
    try:
        for path in DEEP_LINKS:
            servers.append(start_streamlit(weights_with_card, tmp_path / f"{path}.log"))
        pages = {}
        for path, (_, url) in zip(DEEP_LINKS, servers):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            failure_screenshots.append(page)
            page.goto(f"{url}/{path}", wait_until="commit")
            pages[path] = page
        for path, page in pages.items():
            title, own = DEEP_LINKS[path]
            page.locator("h1", has_text=title).wait_for(timeout=LOAD_MS)
            page.locator(own).first.wait_for(timeout=LOAD_MS)
            page.wait_for_function("document.querySelectorAll('[data-testid=stSidebarNav] a').length === 5",
                                   timeout=LOAD_MS)
            links = page.locator("[data-testid=stSidebarNav] a").all()
            assert [a.inner_text().splitlines()[-1].strip() for a in links] == NAVIGATION, path
            base = page.url[: page.url.index("/", len("http://"))]
            assert [a.get_attribute("href") for a in links] == [f"{base}/{p}" for p in DEEP_LINKS], "the links tested"
            assert page.locator("h1").count() == 1, f"{path}: the page was drawn once"
            assert page.get_by_text("Page not found").count() == 0, path
            assert page.url == f"{base}/{path}", page.url
            screenshot(page, f"deep_link_{path or 'root'}")
    finally:
        for proc, _ in servers:
            stop_streamlit(proc)
