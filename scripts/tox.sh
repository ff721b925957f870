#!/usr/bin/env bash
# The test suite on the other supported Pythons, through tox (installed into .venv by
# scripts/test.sh; this script installs it too). Finds the interpreters through pyenv
# when it is there (every installed 3.10-3.13, the newest patch release of each) or on
# PATH.
#
#   bash scripts/tox.sh                   # py310 py311 py312 py313 lowest, full suite
#   bash scripts/tox.sh --fast            # the same envs, the fast tier (as CI runs it)
#   bash scripts/tox.sh -e py312 -- -x    # tox arguments; after --, pytest arguments
#
# The fast tier leaves out the slow, whole-project checks that one Python is enough for:
# the docs samples and docs lint, lint/types/docs build, the benchmark smoke test, the
# browser tests and the reliability (leak, load, fault) tests.
LIVEASGI_EXTRAS=dev
source "$(dirname "$0")/_venv.sh"

if command -v pyenv >/dev/null 2>&1; then
    # The interpreters' own bin folders, not pyenv's shims: tox's interpreter discovery
    # does not use the shims.
    for version in $(pyenv versions --bare | grep -E '^3\.1[0-3]\.[0-9]+$' | sort -V |
        awk -F. '{newest[$1"."$2] = $0} END {for (minor in newest) print newest[minor]}' | sort -V); do
        PATH="$(pyenv prefix "$version")/bin:$PATH"
        step "Python $version from pyenv"
    done
    export PATH
fi

fast=()
if [ "${1:-}" = --fast ]; then
    shift
    fast=(-m "not reliability and not browser"
        --ignore=tests/test_docs_samples.py --ignore=tests/test_docs_lint.py
        --ignore=tests/test_quality.py --ignore=tests/test_benchmarks_smoke.py
        --ignore=tests/test_browser.py --ignore=tests/test_packaging.py)
fi
if [ "${1:-}" != -e ]; then
    envs=""
    for minor in 10 11 12 13; do
        if "python3.$minor" -c "" 2>/dev/null; then
            envs="$envs,py3$minor"
        else
            echo "note: no python3.$minor on this machine: py3$minor is left out" >&2
        fi
    done
    if python3.10 -c "" 2>/dev/null; then envs="$envs,lowest"; fi
    set -- -e "${envs#,}" "$@"
fi
# tox arguments up to --, then pytest arguments (the fast tier's, then the caller's).
tox_args=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do tox_args+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
step "tox ${tox_args[*]} (each env installs its dependencies once, then reuses them)"
exec .venv/bin/tox "${tox_args[@]}" -- "${fast[@]}" "$@"
