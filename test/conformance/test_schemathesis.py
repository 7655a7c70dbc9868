"""Schemathesis against the OpenAPI document of the whole REST API (GET /docs/json) of a real server
with every part on (see the fuzz_server fixture): no answer may be a 5xx, and every answer must be
one the document lists for its operation, with that status's content type and schema. Afterwards
the server must still be alive and serving.

Runs as part of `npm run test:conformance`; alone: `bash test/conformance/run.sh -k schemathesis`.
The server requires credentials; every request (and the fetch of the document) carries the
fixture's admin key as `Authorization: Bearer <key>`, or MODELPORT_FUZZ_TOKEN when that is set.
Environment:
  MODELPORT_FUZZ_EXAMPLES  test cases per operation and phase (default 40)
  MODELPORT_FUZZ_SEED      seed of the generator (default 1, so a run is reproducible; any integer)
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _auth_headers(server):
    token = os.environ.get("MODELPORT_FUZZ_TOKEN") or getattr(server, "key", None)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _get(url, headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def test_rest_api_under_schemathesis(fuzz_server):
    base = f"http://{fuzz_server.http}"
    headers = _auth_headers(fuzz_server)
    status, document = _get(f"{base}/docs/json", headers)
    assert status == 200
    paths = json.loads(document)["paths"]
    assert "/v2/models/{name}/infer" in paths and "/v1/models" in paths and "/v1/jobs" in paths and "/v1/drift" in paths

    with tempfile.TemporaryDirectory(prefix="modelport-schemathesis-") as work:
        schema_file = os.path.join(work, "openapi.json")
        with open(schema_file, "wb") as out:
            out.write(document)
        command = [
            os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run", schema_file,
            "--url", base,
            "--checks", CHECKS,
            "--max-examples", os.environ.get("MODELPORT_FUZZ_EXAMPLES", "40"),
            "--seed", os.environ.get("MODELPORT_FUZZ_SEED", "1"),
            "--workers", "1",
            "--request-timeout", "30",
            "--generation-database", "none",
            "--no-color",
        ]
        for name, value in headers.items():
            command += ["--header", f"{name}: {value}"]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": HERE}
        run = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    report = run.stdout + run.stderr
    print(report)
    assert run.returncode == 0, f"schemathesis found problems (exit {run.returncode}):\n{report[-20000:]}"

    assert fuzz_server.process.poll() is None, "the server died during the fuzz run"
    status, _ = _get(f"{base}/v2/health/live", {})
    assert status == 200
