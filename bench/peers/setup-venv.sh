#!/usr/bin/env bash
# Makes the two venvs the peer benchmark needs, idempotently: bench/peers/.venv with the pinned
# MLServer, onnxruntime, FastAPI and uvicorn (requirements.txt), and test/conformance/.venv with
# tritonclient 2.50's perf_analyzer, its libcudart (no GPU needed) and the system libb64 it links.
# They are separate because MLServer and tritonclient 2.50 need different protobuf majors.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/../../test/conformance/setup-venv.sh"
bash "$here/../../scripts/make-venv.sh" "$here/.venv" "$here/requirements.txt"
