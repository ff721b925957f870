#!/usr/bin/env bash
# The project's tests. Installs the test dependencies (and tox, for scripts/tox.sh) into
# .venv and, as root, Debian's Chromium for the browser tests (they skip, saying why,
# without it). Arguments go to pytest, e.g. `bash scripts/test.sh -x -q tests/test_plugin.py`.
LIVEASGI_EXTRAS=demo,test,lint,docs,dev
source "$(dirname "$0")/_venv.sh"
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        step "installing Debian's chromium for the browser tests (apt-get, about a minute)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: /usr/bin/chromium is missing and this is not root: browser tests will skip" >&2
    fi
fi
step "running the test suite: pytest (about 3 minutes on two quiet cores, up to 11 busy; -x -q for a shorter report)"
exec .venv/bin/python -m pytest "$@"
