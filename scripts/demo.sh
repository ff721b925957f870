#!/usr/bin/env bash
# The main job: run the example test suite against the example app (examples/).
LIVEASGI_EXTRAS=demo
source "$(dirname "$0")/_venv.sh"
exec .venv/bin/python -m pytest examples -v "$@"
