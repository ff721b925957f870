# Sourced by the other scripts: make .venv (once) and install the project with the
# extras named in $LIVEASGI_EXTRAS into it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${LIVEASGI_EXTRAS}]"
