"""FastAPI peer: the plain FastAPI + onnxruntime service that common deployment guides show — one
uvicorn worker, one InferenceSession per model, a synchronous handler (FastAPI runs it in its
thread pool), JSON in and out, no batching. It speaks the V2 JSON shapes and the few extra routes
perf_analyzer reads (server metadata, model metadata, config) so the same command drives it."""
import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException

REPOSITORY = os.environ["MODEL_REPOSITORY"]
MODELS = os.environ.get("MODELS", "mlp").split(",")
MAX_BATCH_SIZE = 64
DATATYPES = {"tensor(float)": ("FP32", np.float32), "tensor(int64)": ("INT64", np.int64)}



def session_options() -> ort.SessionOptions:
    # onnxruntime's defaults unless the benchmark passes the thread settings it chose for this app.
    options = ort.SessionOptions()
    if os.environ.get("ORT_INTRA_OP_THREADS"):
        options.intra_op_num_threads = int(os.environ["ORT_INTRA_OP_THREADS"])
    if os.environ.get("ORT_ALLOW_SPINNING"):
        options.add_session_config_entry("session.intra_op.allow_spinning", os.environ["ORT_ALLOW_SPINNING"])
    return options


sessions = {name: ort.InferenceSession(os.path.join(REPOSITORY, name, "1", "model.onnx"), session_options(), providers=["CPUExecutionProvider"]) for name in MODELS}
app = FastAPI()


def session(name: str) -> ort.InferenceSession:
    if name not in sessions:
        raise HTTPException(status_code=404, detail=f"unknown model {name}")
    return sessions[name]


def tensor_metadata(arg) -> dict:
    return {"name": arg.name, "datatype": DATATYPES[arg.type][0], "shape": [d if isinstance(d, int) else -1 for d in arg.shape]}


@app.get("/v2")
def server_metadata():
    return {"name": "fastapi-onnxruntime", "version": "1", "extensions": []}


@app.get("/v2/health/ready")
def ready():
    return {}


@app.get("/v2/models/{name}")
def model_metadata(name: str):
    s = session(name)
    return {"name": name, "versions": ["1"], "platform": "onnxruntime_onnx",
            "inputs": [tensor_metadata(i) for i in s.get_inputs()], "outputs": [tensor_metadata(o) for o in s.get_outputs()]}


@app.get("/v2/models/{name}/config")
def model_config(name: str):
    s = session(name)

    def dims(arg):
        return [{"name": arg.name, "data_type": "TYPE_" + DATATYPES[arg.type][0], "dims": [d if isinstance(d, int) else -1 for d in arg.shape[1:]]}]

    return {"name": name, "platform": "onnxruntime_onnx", "max_batch_size": MAX_BATCH_SIZE,
            "input": [d for i in s.get_inputs() for d in dims(i)], "output": [d for o in s.get_outputs() for d in dims(o)]}


@app.post("/v2/models/{name}/infer")
def infer(name: str, body: dict):
    s = session(name)
    types = {i.name: DATATYPES[i.type][1] for i in s.get_inputs()}
    feeds = {t["name"]: np.asarray(t["data"], dtype=types[t["name"]]).reshape(t["shape"]) for t in body["inputs"]}
    results = s.run(None, feeds)
    return {
        "model_name": name,
        "model_version": "1",
        "outputs": [{"name": o.name, "datatype": "FP32", "shape": list(r.shape), "data": r.ravel().tolist()} for o, r in zip(s.get_outputs(), results)],
    }
