"""Triton's own client against a Modelport server that requires credentials: tritonclient sends
the API key as a header (HTTP) or metadata (gRPC) through its standard `headers` argument; without
it, the same calls are refused and the probes still answer. (perf_analyzer's `-H` headers go with
inference requests only, not with the metadata calls it makes first, so it can only measure a
server that runs --insecure.)"""
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from clients import PROTOCOLS, client, make_input, make_output


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tritonclient_sends_a_key_and_is_refused_without_one(secured_server, protocol):
    c = client(secured_server, protocol)
    # gRPC metadata keys are lower case; HTTP header names are not case-sensitive.
    headers = {"authorization": f"Bearer {secured_server.key}"}
    assert c.is_server_live()
    with pytest.raises(InferenceServerException) as refused:
        c.get_model_metadata("mlp")
    assert "credentials" in str(refused.value)
    metadata = c.get_model_metadata("mlp", headers=headers)
    name = metadata["name"] if protocol == "http" else metadata.name
    assert name == "mlp"
    x = np.random.default_rng(7).random((4, 256), dtype=np.float32)
    result = c.infer("mlp", [make_input(protocol, "input", x, "FP32")], outputs=[make_output(protocol, "output")], headers=headers)
    assert result.as_numpy("output").shape == (4, 10)
    with pytest.raises(InferenceServerException):
        c.infer("mlp", [make_input(protocol, "input", x, "FP32")])
