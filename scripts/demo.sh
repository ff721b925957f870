#!/usr/bin/env bash
# The main job: run the example test suite (examples/tests) against the example app
# (examples/notes_app). First run: two to three minutes to install; then a few seconds.
LIVEASGI_EXTRAS=demo
source "$(dirname "$0")/_venv.sh"
step "running the example suite: pytest examples"
# scripts/test.sh installs pytest-django and pytest-flask into the same .venv for the
# coexistence tests; either one owns `live_server`, which the example suite uses, so the
# demo runs without them (as in a project that has neither).
exec .venv/bin/python -m pytest examples -v -p no:django -p no:flask "$@"
