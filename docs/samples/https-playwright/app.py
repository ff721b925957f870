from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE = """<!doctype html><html><head><title>Account</title></head><body>
<h1>Account</h1>
<p>Secure context: <output id="secure"></output></p>
<script>
document.getElementById("secure").textContent = window.isSecureContext;
</script></body></html>"""


async def account(request):
    response = HTMLResponse(PAGE)
    response.set_cookie("session", "s3cret", secure=True, httponly=True)
    return response


app = Starlette(routes=[Route("/account", account)])
