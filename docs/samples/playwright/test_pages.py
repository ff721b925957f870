import httpx
import pytest
from playwright.sync_api import expect


def test_base_url_is_the_live_server(base_url, live_server_session):
    assert base_url == live_server_session.url
    assert httpx.get(base_url + "/about").status_code == 200


def test_click(page):
    page.goto("/")
    page.click("#more")
    page.click("#more")
    expect(page.locator("#count")).to_have_text("2")


def test_follow_a_link(page):
    page.goto("/")
    page.click("text=About")
    expect(page.locator("h1")).to_have_text("About")


@pytest.mark.parametrize("path", ["/", "/about"])
def test_screenshot_series(page, path, tmp_path):
    page.goto(path)
    shot = tmp_path / "page.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
