"""Screenshot every page of the example app, outside pytest.

    python examples/screenshots.py OUTPUT_FOLDER

Starts the notes app with `LiveServer`, opens each page in Chromium through Playwright's
sync API, adds a note through the form, and saves one PNG per page into OUTPUT_FOLDER.
Set CHROMIUM to use another browser binary (default: Debian's /usr/bin/chromium).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from pytest_liveasgi import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # make notes_app importable

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGES = {"notes": "/", "about": "/about"}


def take_screenshots(output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with LiveServer("notes_app.app:app") as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(base_url=server.url, viewport={"width": 800, "height": 600})
        for name, path in PAGES.items():
            page.goto(path)
            written.append(output / f"{name}.png")
            page.screenshot(path=written[-1], full_page=True)
        page.goto("/")
        page.fill("#note-text", "Screenshot me")
        page.click("#add")
        page.locator("#notes li", has_text="Screenshot me").wait_for()
        written.append(output / "notes-after-adding.png")
        page.screenshot(path=written[-1], full_page=True)
        browser.close()
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    for path in take_screenshots(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
