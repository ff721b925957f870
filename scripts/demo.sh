#!/usr/bin/env bash
# The main job: run the example test suite (examples/tests) against the example app
# (examples/notes_app). First run: two to three minutes to install; then a few seconds.
LIVEASGI_EXTRAS=demo
source "$(dirname "$0")/_venv.sh"
step "running the example suite: pytest examples"
exec .venv/bin/python -m pytest examples -v "$@"
