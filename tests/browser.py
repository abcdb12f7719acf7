"""Headless Chromium (Debian's, installed by scripts/setup.sh) driven by Playwright: pages are
opened from disk as a person opens them, their script runs, and the test reads the rendered DOM.

Without Chromium or Playwright the browser tests skip, except under CI=true, where that is an error."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("EFFDET_BATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Nothing outside the page: no updates, sync, first-run pages or background requests.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

# Every box drawn in a card, with its place relative to the card's frame, in CSS pixels.
BOXES_JS = """() => Array.from(document.querySelectorAll('figure.card')).map(card => {
  const frame = card.querySelector('.frame').getBoundingClientRect();
  const img = card.querySelector('img');
  return {id: card.dataset.imageId, width: frame.width, height: frame.height,
          loaded: img ? img.complete && img.naturalWidth > 0 : false,
          boxes: Array.from(card.querySelectorAll('.box')).map(b => {
            const r = b.getBoundingClientRect();
            return {label: b.dataset.label, score: b.dataset.score === undefined ? null : parseFloat(b.dataset.score),
                    kind: b.className, visible: !b.hidden && r.width > 0,
                    left: r.left - frame.left, top: r.top - frame.top, width: r.width, height: r.height};
          })};
})"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must have it (scripts/setup.sh installs both)")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[object]:
    """A Playwright browser context of headless Chromium with a fresh profile."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e .[test])")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="effdet-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=ARGS,
                                                       viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()


@contextmanager
def opened(context, page_file: Path) -> Iterator[object]:
    """`page_file` opened from disk (file://) in a new tab, its images loaded and its script run.
    A request for anything but a file fails the test: the pages are self-contained."""
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else outside.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(page_file.resolve().as_uri(), wait_until="load")
        yield page
        assert outside == [], f"the page fetched from outside: {outside}"
        assert errors == [], f"the page's script failed: {errors}"
    finally:
        page.close()
