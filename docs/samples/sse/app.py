import asyncio
import itertools

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE = """<!doctype html>
<title>Ticks</title>
<p id="ticks"></p>
<script>
  const source = new EventSource("/ticks");
  source.onmessage = (event) => {
    document.getElementById("ticks").textContent += event.data + " ";
  };
</script>
"""


async def ticks(request):
    """An endless stream: one event every 50 ms until the client goes away."""

    async def numbers():
        for number in itertools.count():
            yield {"data": str(number)}
            await asyncio.sleep(0.05)

    return EventSourceResponse(numbers())


async def page(request):
    return HTMLResponse(PAGE)


app = Starlette(routes=[Route("/ticks", ticks), Route("/", page)])
