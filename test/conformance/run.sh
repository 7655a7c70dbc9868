#!/usr/bin/env bash
# npm run test:conformance: Triton's own clients (tritonclient HTTP and gRPC, sync, async and
# streaming) and perf_analyzer against real Modelport servers, and Schemathesis fuzzing the whole
# REST API from its OpenAPI document (test_schemathesis.py; alone: run.sh -k schemathesis).
# Expects `npm run build` to have run.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bash test/conformance/setup-venv.sh
venv="$root/test/conformance/.venv"
cuda_lib="$(echo "$venv"/lib/python3*/site-packages/nvidia/cuda_runtime/lib)"
export LD_LIBRARY_PATH="$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PERF_ANALYZER="$venv/bin/perf_analyzer"
exec "$venv/bin/python" -m pytest test/conformance -v -p no:cacheprovider "$@"
