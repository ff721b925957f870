import pytest


@pytest.fixture(scope="session")
def base_url(live_server_session):
    """pytest-playwright opens relative URLs (page.goto("/about")) on this base URL."""
    return live_server_session.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """The system's Chromium (Debian: apt-get install chromium), not a download."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }
