#!/usr/bin/env bash
# The project's tests. Installs the test dependencies into .venv and, as root,
# Debian's Chromium for the browser tests (they skip, saying why, without it).
LIVEASGI_EXTRAS=test,lint,docs
source "$(dirname "$0")/_venv.sh"
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: /usr/bin/chromium is missing and this is not root: browser tests will skip" >&2
    fi
fi
exec .venv/bin/python -m pytest "$@"
