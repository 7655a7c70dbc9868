"""One interface over tritonclient's HTTP and gRPC modules, so every test runs on both protocols."""
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio

PROTOCOLS = ["http", "grpc"]


def module(protocol):
    return httpclient if protocol == "http" else grpcclient


def client(server, protocol):
    if protocol == "http":
        return httpclient.InferenceServerClient(server.http)
    return grpcclient.InferenceServerClient(server.grpc)


def aio_client(server, protocol):
    if protocol == "http":
        return httpaio.InferenceServerClient(server.http)
    return grpcaio.InferenceServerClient(server.grpc)


def make_input(protocol, name, array, datatype, binary=True):
    tensor = module(protocol).InferInput(name, list(array.shape), datatype)
    if protocol == "http":
        tensor.set_data_from_numpy(array, binary_data=binary)
    else:
        tensor.set_data_from_numpy(array)
    return tensor


def make_output(protocol, name, binary=True):
    if protocol == "http":
        return httpclient.InferRequestedOutput(name, binary_data=binary)
    return grpcclient.InferRequestedOutput(name)


def model_config(c, protocol, name):
    """The configuration as Triton's JSON form, whichever protocol fetched it."""
    if protocol == "http":
        return c.get_model_config(name)
    return c.get_model_config(name, as_json=True)["config"]


def metadata(c, protocol, name):
    if protocol == "http":
        return c.get_model_metadata(name)
    return c.get_model_metadata(name, as_json=True)
