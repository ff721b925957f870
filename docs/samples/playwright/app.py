from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>{title}</h1>{body}</body></html>"""

COUNTER = """<button id="more">More</button> <output id="count">0</output>
<script>
document.getElementById("more").onclick = () => {
  const count = document.getElementById("count");
  count.textContent = Number(count.textContent) + 1;
};
</script>"""


async def home(request):
    return HTMLResponse(PAGE.format(title="Home", body=COUNTER))


async def about(request):
    return HTMLResponse(
        PAGE.format(title="About", body="<p>A live server for real browsers.</p>")
    )


app = Starlette(routes=[Route("/", home), Route("/about", about)])
