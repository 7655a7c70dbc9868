#!/usr/bin/env bash
# npm run bench:peers: Modelport, MLServer and a FastAPI app serving the same ONNX files, driven
# one after another by the same perf_analyzer command. Expects `npm run build` to have run.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bash bench/peers/setup-venv.sh
exec node dist/bench/peers/peer-bench.js "$@"
