"""python shoot.py OUTPUT_FOLDER: one PNG per page of the app, no pytest involved."""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from pytest_liveasgi import LiveServer

PAGES = {"home": "/", "about": "/about"}
LAUNCH = {
    "executable_path": "/usr/bin/chromium",
    "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
}


def main(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    with LiveServer("app:app") as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(**LAUNCH)
        page = browser.new_page(base_url=server.url)
        for name, path in PAGES.items():
            page.goto(path)
            page.screenshot(path=output / f"{name}.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
