from playwright.sync_api import expect


def test_the_page_is_a_secure_context(page):
    page.goto("/account")
    expect(page.locator("#secure")).to_have_text("true")
    assert page.url.startswith("https://")


def test_secure_cookies_are_kept(page):
    page.goto("/account")
    cookies = page.context.cookies()
    assert [(c["name"], c["secure"]) for c in cookies] == [("session", True)]
