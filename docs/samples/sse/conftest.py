import httpx
import pytest
from sse_starlette.sse import AppStatus


@pytest.fixture(autouse=True)
def reset_sse_starlette():
    """sse-starlette keeps process-wide shutdown state; start each test clean."""
    # Set for good by any uvicorn server's handle_exit (a signal) in this process.
    AppStatus.should_exit = False
    # sse-starlette 1.8-2.4 only: an event bound to the first server's event loop.
    AppStatus.should_exit_event = None


@pytest.fixture
def ticks(asgi_live_server):
    """The event stream, open during the test, closed before the server stops."""
    with httpx.stream("GET", asgi_live_server + "/ticks") as response:
        yield (line for line in response.iter_lines() if line.startswith("data:"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Use the system's Chromium (Debian: apt-get install chromium)."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }
