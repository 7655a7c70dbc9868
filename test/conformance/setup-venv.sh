#!/usr/bin/env bash
# Makes test/conformance/.venv with the pinned tritonclient, perf_analyzer, schemathesis and
# pytest, and the one system library perf_analyzer needs. Idempotent: a venv built from the same
# requirements is kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"

if ! ldconfig -p | grep -q 'libb64.so.0d'; then
  echo "installing libb64-0d (perf_analyzer needs it)"
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  if ! $sudo apt-get install -y -q libb64-0d >/dev/null 2>&1; then
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q libb64-0d >/dev/null
  fi
fi

bash "$here/../../scripts/make-venv.sh" "$venv" "$here/requirements.txt"
