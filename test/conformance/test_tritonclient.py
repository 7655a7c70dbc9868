"""tritonclient, HTTP and gRPC, unchanged, against Modelport: health, metadata, configuration,
statistics, repository control, sync / async / streaming inference of every datatype, binary
and JSON tensors, requested-output subsets, and errors raised as InferenceServerException with
the server's message."""
import asyncio
import queue

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from clients import PROTOCOLS, aio_client, client, make_input, make_output, metadata, model_config

RNG = np.random.default_rng(7)

# The `datatypes` model echoes in_<type> as in_<type>_out; its inputs are [batch, 4] ([batch, 2] for BYTES).
DATATYPES = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}


def datatype_arrays(batch=3):
    arrays = {}
    for datatype, dtype in DATATYPES.items():
        if datatype == "BYTES":
            # onnxruntime string tensors hold UTF-8 text without NUL bytes; the server refuses others.
            arrays[datatype] = np.array([[f"r{r}-é".encode(), b""] for r in range(batch)], dtype=np.object_)
        elif datatype == "BOOL":
            arrays[datatype] = RNG.integers(0, 2, size=(batch, 4)).astype(np.bool_)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            arrays[datatype] = np.array([[info.min, info.max, 0, 1]] * batch, dtype=dtype)
        else:
            arrays[datatype] = RNG.standard_normal((batch, 4)).astype(dtype)
    return arrays


def mlp_input(protocol, batch=2, seed=0):
    data = np.random.default_rng(seed).standard_normal((batch, 256)).astype(np.float32)
    return data, make_input(protocol, "input", data, "FP32")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_health_and_server_metadata(server, protocol):
    c = client(server, protocol)
    assert c.is_server_live()
    assert c.is_server_ready()
    assert c.is_model_ready("mlp")
    assert not c.is_model_ready("mlp", "7")
    meta = c.get_server_metadata() if protocol == "http" else c.get_server_metadata(as_json=True)
    assert meta["name"] == "modelport"
    for extension in ("binary_tensor_data", "model_configuration", "model_repository", "statistics"):
        assert extension in meta["extensions"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_model_metadata_and_config(server, protocol):
    c = client(server, protocol)
    meta = metadata(c, protocol, "mlp")
    assert meta["name"] == "mlp"
    assert meta["versions"] == ["1"]
    assert [int(d) for d in meta["inputs"][0]["shape"]] == [-1, 256]
    assert meta["outputs"][0]["datatype"] == "FP32"
    config = model_config(c, protocol, "text_direction")
    assert config["name"] == "text_direction"
    assert config["max_batch_size"] == 64
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    assert [int(d) for d in config["input"][0]["dims"]] == [3, 48, 192]
    assert "dynamic_batching" in config
    datatypes = model_config(c, protocol, "datatypes")
    assert {t["data_type"] for t in datatypes["input"]} == {f"TYPE_{d}" if d != "BYTES" else "TYPE_STRING" for d in DATATYPES}


# gRPC has one tensor encoding; HTTP has binary and JSON.
@pytest.mark.parametrize("protocol,binary", [("http", True), ("http", False), ("grpc", True)], ids=["http-binary", "http-json", "grpc"])
def test_every_datatype_round_trips(server, protocol, binary):
    c = client(server, protocol)
    arrays = datatype_arrays()
    # FP16 has no JSON form in the protocol: it is always sent binary.
    inputs = [make_input(protocol, f"in_{d.lower()}", a, d, binary=binary or d == "FP16") for d, a in arrays.items()]
    outputs = [make_output(protocol, f"in_{d.lower()}_out", binary=binary or d == "FP16") for d in arrays]
    result = c.infer("datatypes", inputs, outputs=outputs)
    for datatype, array in arrays.items():
        echoed = result.as_numpy(f"in_{datatype.lower()}_out")
        assert echoed is not None, datatype
        assert echoed.shape == array.shape, datatype
        if datatype == "BYTES":
            # JSON outputs come back as str, binary ones as bytes.
            as_bytes = [[v.encode() if isinstance(v, str) else v for v in row] for row in echoed.tolist()]
            assert as_bytes == array.tolist()
        else:
            assert echoed.dtype == array.dtype, datatype
            np.testing.assert_array_equal(echoed, array, err_msg=datatype)
    assert np_to_triton_dtype(arrays["FP64"].dtype) == "FP64"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sync_inference_agrees_across_protocols_and_encodings(server, protocol):
    data, tensor = mlp_input(protocol, batch=4, seed=1)
    result = client(server, protocol).infer("mlp", [tensor], request_id="req-1")
    output = result.as_numpy("output")
    assert output.shape == (4, 10)
    response = result.get_response()
    assert (response["id"] if protocol == "http" else response.id) == "req-1"
    # The same request as JSON over HTTP gives the same numbers.
    http = client(server, "http")
    json_in = make_input("http", "input", data, "FP32", binary=False)
    reference = http.infer("mlp", [json_in], outputs=[make_output("http", "output", binary=False)]).as_numpy("output")
    np.testing.assert_allclose(output, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_async_inference(server, protocol):
    async def run():
        c = aio_client(server, protocol)
        try:
            requests = [mlp_input(protocol, batch=1, seed=s) for s in range(8)]
            results = await asyncio.gather(*(c.infer("mlp", [t]) for _, t in requests))
            return [d for d, _ in requests], [r.as_numpy("output") for r in results]
        finally:
            await c.close()

    inputs, outputs = asyncio.run(run())
    sync = client(server, "http")
    for data, output in zip(inputs, outputs):
        expected = sync.infer("mlp", [make_input("http", "input", data, "FP32")]).as_numpy("output")
        np.testing.assert_allclose(output, expected, rtol=1e-6, atol=1e-6)


def test_http_async_infer_with_the_sync_client(server):
    c = client(server, "http")
    _, tensor = mlp_input("http", batch=2, seed=3)
    handles = [c.async_infer("mlp", [tensor]) for _ in range(4)]
    shapes = [h.get_result().as_numpy("output").shape for h in handles]
    assert shapes == [(2, 10)] * 4


def test_grpc_async_infer_with_a_callback(server):
    c = client(server, "grpc")
    _, tensor = mlp_input("grpc", batch=1, seed=4)
    answers = queue.Queue()
    c.async_infer("mlp", [tensor], callback=lambda result, error: answers.put((result, error)))
    result, error = answers.get(timeout=30)
    assert error is None
    assert result.as_numpy("output").shape == (1, 10)


def test_grpc_stream_interleaves_models_and_survives_an_error(server):
    c = client(server, "grpc")
    answers = queue.Queue()
    c.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        _, mlp = mlp_input("grpc", batch=1, seed=5)
        image = make_input("grpc", "x", RNG.standard_normal((1, 3, 48, 192)).astype(np.float32), "FP32")
        vad_inputs = [
            make_input("grpc", "input", RNG.standard_normal((1, 512)).astype(np.float32), "FP32"),
            make_input("grpc", "state", np.zeros((2, 1, 128), dtype=np.float32), "FP32"),
            make_input("grpc", "sr", np.array(16000, dtype=np.int64), "INT64"),
        ]
        wrong = make_input("grpc", "input", np.zeros((1, 255), dtype=np.float32), "FP32")
        c.async_stream_infer("mlp", [mlp], request_id="a")
        c.async_stream_infer("text_direction", [image], request_id="b")
        c.async_stream_infer("mlp", [wrong], request_id="c")
        c.async_stream_infer("vad", vad_inputs, request_id="d")
        c.async_stream_infer("mlp", [mlp], request_id="e")
        results, errors = {}, []
        for _ in range(5):
            result, error = answers.get(timeout=60)
            if error is not None:
                errors.append(str(error))
            else:
                results[result.get_response().id] = result
        assert sorted(results) == ["a", "b", "d", "e"]
        assert len(errors) == 1 and "input" in errors[0]
        assert results["b"].as_numpy("softmax_0.tmp_0").shape == (1, 2)
        assert results["d"].as_numpy("stateN").shape == (2, 1, 128)
        np.testing.assert_array_equal(results["a"].as_numpy("output"), results["e"].as_numpy("output"))
    finally:
        c.stop_stream()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_requested_output_subset(server, protocol):
    c = client(server, protocol)
    inputs = [
        make_input(protocol, "input", RNG.standard_normal((1, 512)).astype(np.float32), "FP32"),
        make_input(protocol, "state", np.zeros((2, 1, 128), dtype=np.float32), "FP32"),
        make_input(protocol, "sr", np.array(16000, dtype=np.int64), "INT64"),
    ]
    result = c.infer("vad", inputs, outputs=[make_output(protocol, "stateN")])
    assert result.as_numpy("stateN").shape == (2, 1, 128)
    assert result.as_numpy("output") is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_statistics_count_requests(server, protocol):
    c = client(server, protocol)

    def success_count():
        stats = c.get_inference_statistics("mlp") if protocol == "http" else c.get_inference_statistics("mlp", as_json=True)
        entry = stats["model_stats"][0]
        assert entry["version"] == "1"
        return int(entry["inference_stats"]["success"]["count"])

    before = success_count()
    _, tensor = mlp_input(protocol)
    c.infer("mlp", [tensor])
    c.infer("mlp", [tensor])
    assert success_count() == before + 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_repository_index_load_and_unload(explicit_server, protocol):
    c = client(explicit_server, protocol)
    c.load_model("mlp")
    assert c.is_model_ready("mlp")
    index = c.get_model_repository_index() if protocol == "http" else c.get_model_repository_index(as_json=True)["models"]
    assert {"name": "mlp", "version": "1", "state": "READY"} in [{k: e[k] for k in ("name", "version", "state")} for e in index if "version" in e]
    _, tensor = mlp_input(protocol)
    assert c.infer("mlp", [tensor]).as_numpy("output").shape == (2, 10)
    c.unload_model("mlp")
    assert not c.is_model_ready("mlp")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_errors_raise_inference_server_exception_with_the_message(server, protocol):
    c = client(server, protocol)
    _, tensor = mlp_input(protocol)
    with pytest.raises(InferenceServerException, match="unknown model: 'nope'"):
        c.infer("nope", [tensor])
    bad_shape = make_input(protocol, "input", np.zeros((1, 255), dtype=np.float32), "FP32")
    with pytest.raises(InferenceServerException, match="input") as shape_error:
        c.infer("mlp", [bad_shape])
    bad_type = make_input(protocol, "input", np.zeros((1, 256), dtype=np.int32), "INT32")
    with pytest.raises(InferenceServerException, match="(?i)datatype") as type_error:
        c.infer("mlp", [bad_type])
    if protocol == "grpc":
        assert shape_error.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert type_error.value.status() == "StatusCode.INVALID_ARGUMENT"
    else:
        assert shape_error.value.status() == "400"
    # The server keeps serving after each refusal.
    assert c.infer("mlp", [tensor]).as_numpy("output").shape == (2, 10)
