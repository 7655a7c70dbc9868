#!/usr/bin/env bash
# Makes bench/peers/.venv with the pinned MLServer, onnxruntime, FastAPI and uvicorn.
# perf_analyzer comes from the conformance venv (test/conformance/setup-venv.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/../../scripts/make-venv.sh" "$here/.venv" "$here/requirements.txt"
