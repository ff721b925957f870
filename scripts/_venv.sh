# Sourced by the other scripts: make .venv (once) and install the project with the
# extras named in $LIVEASGI_EXTRAS into it. The install runs again only when
# pyproject.toml changed or new extras are asked for: .venv/.liveasgi-installed records
# the pyproject.toml hash and the extras of the last install. The project is installed
# editable, so changes to pytest_liveasgi/ need no reinstall.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '==> %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
    step "creating .venv with $(python3 --version)"
    python3 -m venv .venv
    step "upgrading pip in .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
fi

stamp=.venv/.liveasgi-installed
wanted_hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
missing=""
for extra in ${LIVEASGI_EXTRAS//,/ }; do
    grep -qx "$wanted_hash $extra" "$stamp" 2>/dev/null || missing="$missing $extra"
done
if [ -n "$missing" ]; then
    step "installing pytest-liveasgi[$LIVEASGI_EXTRAS] and its dependencies into .venv" \
        "(1 to 4 minutes the first time; one line per package)"
    # Only the lines that show progress: pip's "already satisfied" lines and its notes
    # about configured package sources that do not exist on this machine are noise.
    .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off \
        -e ".[${LIVEASGI_EXTRAS}]" 2>&1 |
        { grep --line-buffered -v -e '^Requirement already satisfied' -e 'is ignored: it is neither' || true; }
    grep -s "^$wanted_hash " "$stamp" >"$stamp.new" || true
    for extra in ${LIVEASGI_EXTRAS//,/ }; do echo "$wanted_hash $extra" >>"$stamp.new"; done
    sort -u "$stamp.new" >"$stamp" && rm -f "$stamp.new"
    step "installed; the next runs skip this step until pyproject.toml changes"
fi
