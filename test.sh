#!/usr/bin/env bash
# Run the whole test suite: ./test.sh [pytest arguments]
#
# Uses the active virtual environment, or creates .venv in the repository, and installs
# requirements-test.txt into it when that file changed since the last install.
set -euo pipefail
cd "$(dirname "$0")"

if [[ -n "${VIRTUAL_ENV:-}" ]]; then
    venv="$VIRTUAL_ENV"
else
    venv=.venv
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
            echo "test.sh: Python 3.11 or newer is required; python3 is $(python3 --version 2>&1)." >&2
            exit 1
        }
        echo "test.sh: creating the virtual environment $venv"
        python3 -m venv "$venv"
    fi
fi
python="$venv/bin/python"

# Reinstall only when the requirement files changed since the last successful install.
stamp="$venv/.ials-requirements-test.sha256"
wanted="$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "test.sh: installing requirements-test.txt into $venv"
    "$python" -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
    echo "$wanted" > "$stamp"
fi

exec "$python" -m pytest -q "$@"
