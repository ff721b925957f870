"""The docs site as a reader meets it: code that fits the content column, an install line
on every page that needs a package, and nothing loaded from another server.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SAMPLES = DOCS / "samples"
PAGES = sorted(path for path in DOCS.rglob("*.md") if SAMPLES not in path.parents)
WIDTH = 88
INCLUDE = re.compile(r'--8<-- "(docs/samples/[^":]+)(?::[\w-]+)?"')

# What a sample needs that `pip install pytest-liveasgi` does not bring (it brings pytest,
# uvicorn and httpx): import name -> the pip names, any of which on the install line does.
PACKAGES = {
    "starlette": ("starlette", "fastapi"),
    "fastapi": ("fastapi",),
    "litestar": ("litestar",),
    "quart": ("quart",),
    "flask": ("flask",),
    "django": ("django", "pytest-django"),
    "websockets": ("websockets",),
    "trustme": ("pytest-liveasgi[tls]", "trustme"),
    "cryptography": ("cryptography", "pytest-liveasgi[tls]"),
    "playwright": ("pytest-playwright", "playwright"),
    "sse_starlette": ("sse-starlette",),
    "a2wsgi": ("a2wsgi",),
}
BROUGHT = {"pytest", "_pytest", "pytest_liveasgi", "httpx", "uvicorn", "anyio"}
# Needs that show in how a sample is run rather than in its imports.
USES = {
    re.compile(r"^addopts\s*=.*(^|\s)-n\s", re.M): ("pytest-xdist",),
    re.compile(r"pytest\.mark\.asyncio"): ("pytest-asyncio",),
    re.compile(r"def test_\w+\((\w+, )*(page|browser)\b"): ("pytest-playwright",),
    re.compile(r"^\[run\]", re.M): ("coverage",),
}


def included_files(page: Path) -> list[Path]:
    return [ROOT / match for match in INCLUDE.findall(page.read_text())]


def needed_packages(files: list[Path]) -> dict[str, tuple[str, ...]]:
    """What the reader must install for these sample files, keyed by what needs it."""
    needs: dict[str, tuple[str, ...]] = {}
    for file in files:
        text = file.read_text()
        local = {path.stem for path in file.parent.iterdir()}
        if file.suffix == ".py":
            for node in ast.walk(ast.parse(text)):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in BROUGHT or top in local:
                        continue
                    assert top in PACKAGES, f"{file.relative_to(ROOT)} imports {top}: add it to PACKAGES"
                    needs[f"import {top}"] = PACKAGES[top]
        for pattern, pip_names in USES.items():
            if pattern.search(text):
                needs[pattern.pattern] = pip_names
    return needs


def install_lines(page: Path) -> list[str]:
    """The `pip install` lines of the console block that opens the page, right under its title."""
    lines = [line for line in page.read_text().splitlines() if line.strip()]
    if len(lines) < 3 or not lines[0].startswith("# ") or lines[1] != "```console":
        return []
    block = lines[2 : lines.index("```", 2)] if "```" in lines[2:] else []
    return [line for line in block if line.startswith("pip install ")]


def page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


PAGES_WITH_SAMPLES = [page for page in PAGES if included_files(page) or page == DOCS / "index.md"]


def test_every_sample_fits_the_content_column() -> None:
    too_wide = [
        f"{path.relative_to(ROOT)}:{number}: {len(line)} columns"
        for path in sorted(SAMPLES.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and ".ruff_cache" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if len(line) > WIDTH
    ]
    assert not too_wide, f"docs samples wider than {WIDTH} columns:\n" + "\n".join(too_wide)


@pytest.mark.parametrize("page", PAGES_WITH_SAMPLES, ids=page_id)
def test_a_page_with_samples_starts_with_its_install_line(page: Path) -> None:
    lines = install_lines(page)
    assert lines, f"{page_id(page)} should start with ```console / pip install ... under its title"
    line = "; ".join(lines)
    words = {
        word.strip("\"'") for each in lines for word in each.partition("#")[0].removeprefix("pip install ").split()
    }
    assert words & {"pytest-liveasgi", "pytest-liveasgi[tls]"}, line
    missing = {
        need: pip_names
        for need, pip_names in needed_packages(included_files(page)).items()
        if not words & set(pip_names)
    }
    assert not missing, f"{page_id(page)}: its samples need {missing}, its install line is: {line}"


def test_the_home_page_says_pip_install_pytest_liveasgi() -> None:
    assert install_lines(DOCS / "index.md") == ["pip install pytest-liveasgi"]


def test_the_site_config_loads_nothing_from_other_servers() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^\s+font: false$", config, re.M), "theme: font: false (system fonts, renders offline)"
    for key in ("extra_css", "extra_javascript"):
        block = re.search(rf"^{key}:\n((?:\s+- .*\n)+)", config, re.M)
        assert block is None or "//" not in block.group(1), f"{key} names another server"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site, built strictly."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    site = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return site


def test_the_docs_build_strictly(site: Path) -> None:
    assert (site / "index.html").exists()


def test_the_built_site_loads_nothing_from_other_servers(site: Path) -> None:
    outside = re.compile(r"""<(?:link|script|img)\b[^>]*?\b(?:href|src)=["']?(?:https?:)?//""")
    loading = {
        f"{page.relative_to(site)}: {match.group(0)}"
        for page in site.rglob("*.html")
        for match in outside.finditer(page.read_text())
        if "canonical" not in match.group(0)  # names the page's address, loads nothing
    }
    assert not loading, "\n".join(sorted(loading))
    assert "fonts.googleapis" not in (site / "index.html").read_text()


@pytest.mark.browser
@pytest.mark.slow  # ~12 s: every page of the site, in Chromium
def test_code_blocks_show_whole_lines_in_a_1280_pixel_window(site: Path) -> None:
    """What a reader sees: no code block of any page needs scrolling sideways, and no page
    asks another server for anything (the site renders the same offline)."""
    if not Path("/usr/bin/chromium").exists() or importlib.util.find_spec("playwright") is None:
        pytest.skip("needs Playwright and /usr/bin/chromium (scripts/test.sh installs both as root)")
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    overflowing = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        outside: set[str] = set()
        page.on("request", lambda request: outside.add(request.url))
        for html in sorted(site.rglob("*.html")):
            page.goto(html.as_uri())
            wide = page.evaluate(
                """() => [...document.querySelectorAll("pre > code")]
                    .filter((code) => code.scrollWidth > code.clientWidth + 1)
                    .map((code) => code.textContent.split("\\n")[0])"""
            )
            if wide:
                overflowing[str(html.relative_to(site))] = wide
        browser.close()
    assert not overflowing, overflowing
    assert {url for url in outside if not url.startswith(("file:", "data:"))} == set()


def test_readme_links_work_on_pypi() -> None:
    """PyPI shows README.md without the repository around it: every link is absolute."""
    targets = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    assert targets
    assert [target for target in targets if not target.startswith("https://")] == []


def test_the_api_page_lists_every_public_member_of_liveserver() -> None:
    from pytest_liveasgi import LiveServer

    page = (DOCS / "api.md").read_text()
    block = page.split("::: pytest_liveasgi.LiveServer", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"^\s+- (\w+)$", block, re.M))
    public = {name for name in vars(LiveServer) if not name.startswith("_")}
    assert public - listed == set(), "public LiveServer members missing from docs/api.md"
    assert listed - public == set(), "docs/api.md lists members LiveServer does not have"
