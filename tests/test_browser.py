"""Real browser tests: pytest-playwright with Debian's Chromium against the example notes app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import dedent

CHROMIUM = "/usr/bin/chromium"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = [
    pytest.mark.browser,
    # pytest-playwright's browser and its event loop belong to a process.
    pytest.mark.subprocess,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"no browser: {CHROMIUM} is missing (scripts/test.sh installs Debian's chromium as root)",
    ),
]


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 100, f"{path} is {width}x{height}"
    assert height > 100, f"{path} is {width}x{height}"


def test_playwright_recipe_base_url_from_the_session_server(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\npythonpath = {EXAMPLES}\nasgi_app = notes_app.app:app\n")
    pytester.makeconftest(
        dedent(
            f"""
            import pytest

            @pytest.fixture(scope="session")
            def browser_type_launch_args(browser_type_launch_args):
                return {{
                    **browser_type_launch_args,
                    "executable_path": "{CHROMIUM}",
                    "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                }}

            @pytest.fixture(scope="session")
            def base_url(live_server_session):
                return live_server_session.url
            """
        )
    )
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from playwright.sync_api import expect

            def test_base_url_is_the_session_server(page, base_url, live_server_session):
                assert base_url == live_server_session.url
                page.goto("/")
                assert page.url == base_url + "/"
                expect(page).to_have_title("Notes · Notes")

            def test_add_a_note_with_the_form(page):
                page.goto("/")
                page.fill("#note-text", "Water the plants")
                page.click("#add")
                expect(page.locator("#notes li")).to_have_text(["Buy milk", "Water the plants"])
                page.reload()  # the note is stored by the server, not just shown
                expect(page.locator("#notes li").last).to_have_text("Water the plants")

            def test_follow_a_link(page):
                page.goto("/")
                page.click("text=About")
                expect(page).to_have_url("/about")
                expect(page.locator("h1")).to_have_text("About")

            @pytest.mark.parametrize("name, path", [("notes", "/"), ("about", "/about")])
            def test_screenshot_series(page, name, path):
                page.goto(path)
                page.screenshot(path=f"shots/{name}.png", full_page=True)
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    for name in ("notes", "about"):
        assert_png(pytester.path / "shots" / f"{name}.png")


def test_example_screenshot_script(tmp_path: Path) -> None:
    output = tmp_path / "shots"
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "screenshots.py"), str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    names = sorted(path.name for path in output.iterdir())
    assert names == ["about.png", "notes-after-adding.png", "notes.png"]
    for path in output.iterdir():
        assert_png(path)
    assert completed.stdout.split() == [str(output / n) for n in ("notes.png", "about.png", "notes-after-adding.png")]
