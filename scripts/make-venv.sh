#!/usr/bin/env bash
# Usage: make-venv.sh VENV_DIR REQUIREMENTS_FILE
# Creates a Python venv and installs the pinned requirements into it. Idempotent: a venv built
# from the same requirements file (by content hash) is kept as it is.
set -euo pipefail
venv="$1"
requirements="$2"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  exit 0
fi
echo "creating $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --requirement "$requirements"
echo "$wanted" > "$stamp"
