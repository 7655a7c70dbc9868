"""Fixtures of the conformance suite: real `modelport serve` processes on free loopback ports.

The repository served is built by scripts/conformance-repository.ts: the example models plus
`datatypes`, an identity model with one input per datatype. Ports are read from the server's own
start-up log line, so nothing is guessed. The fuzz server gets a repository, registry and data
root of its own, because the fuzzer changes what it finds there.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@dataclass
class Server:
    http: str
    grpc: str
    process: subprocess.Popen
    logs: list = field(default_factory=list)
    key: str = ""

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=60)


def _start(repository: str, *args: str, secure: bool = False) -> Server:
    """A server on loopback; without credentials unless `secure` (the auth tests ask for it)."""
    command = [
        "node", os.path.join(ROOT, "bin", "modelport.js"), "serve",
        "--model-repository", repository, "--host", "127.0.0.1",
        "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0", "--log-format", "json",
        *([] if secure else ["--insecure"]), *args,
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    logs: list = []
    for line in process.stdout:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        logs.append(entry)
        if entry.get("msg") == "modelport serving":
            http = entry["http"].removeprefix("http://")
            server = Server(http=http, grpc=entry["grpc"], process=process, logs=logs)
            # Keep reading so a chatty server never blocks on a full pipe.
            threading.Thread(target=lambda: [logs.append(l) for l in process.stdout], daemon=True).start()
            return server
    raise RuntimeError(f"modelport exited with {process.wait()} before serving: {logs[-5:]}")


def _build_repository(prefix: str) -> str:
    target = tempfile.mkdtemp(prefix=prefix)
    subprocess.run(["node", os.path.join(ROOT, "dist", "scripts", "conformance-repository.js"), target], check=True, cwd=ROOT)
    return target


@pytest.fixture(scope="session")
def repository():
    target = _build_repository("modelport-conformance-")
    yield target
    shutil.rmtree(target, ignore_errors=True)


@pytest.fixture(scope="session")
def server(repository):
    running = _start(repository)
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="session")
def explicit_server(repository):
    running = _start(repository, "--model-control-mode", "explicit")
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="session")
def secured_server(repository):
    """A server that requires credentials, and an `infer` API key made with `modelport keys create`."""
    created = subprocess.run(
        ["node", os.path.join(ROOT, "bin", "modelport.js"), "keys", "create", "--role", "infer",
         "--model-repository", repository, "--name", "conformance", "--json"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    running = _start(repository, secure=True)
    running.key = json.loads(created.stdout)["key"]
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="session")
def fuzz_server():
    """Every part of the REST API on: the registry (SQLite, the default), explicit model control
    (so load and unload run), the jobs API on a data root, and drift watch on mlp; credentials
    required, with an admin key in `.key`."""
    root = tempfile.mkdtemp(prefix="modelport-fuzz-")
    repository = _build_repository("modelport-fuzz-repository-")
    data_root = os.path.join(root, "data")
    os.makedirs(data_root)
    # Credentials required, as a server runs by default: the fuzzer holds an admin key.
    created = subprocess.run(
        ["node", os.path.join(ROOT, "bin", "modelport.js"), "keys", "create", "--role", "admin",
         "--model-repository", repository, "--name", "fuzz", "--json"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    running = _start(
        repository,
        "--model-control-mode", "explicit", "--load-model", "*",
        "--data-root", data_root,
        "--drift-baseline", "mlp=100",
        secure=True,
    )
    running.key = json.loads(created.stdout)["key"]
    yield running
    assert running.stop() == 0
    shutil.rmtree(repository, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
