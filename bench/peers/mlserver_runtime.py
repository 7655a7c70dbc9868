"""MLServer peer: a small custom runtime serving an ONNX file with onnxruntime, as MLServer's
documentation shows for custom runtimes. MLServer does not implement Triton's model-configuration
extension, which perf_analyzer needs before it sends a request, so each model class also answers
GET /v2/models/<name>/config with the Triton-shaped configuration (a custom handler; it is called
once per perf_analyzer run, never on the inference path)."""
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.handlers import custom_handler
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

TRITON_TYPES = {"FP32": "TYPE_FP32", "INT64": "TYPE_INT64"}


def session_options(extra: dict) -> ort.SessionOptions:
    """onnxruntime's defaults unless model-settings.json's parameters.extra says otherwise: the
    benchmark passes the thread settings it measured as this server's best on the machine."""
    options = ort.SessionOptions()
    if "intra_op_num_threads" in extra:
        options.intra_op_num_threads = int(extra["intra_op_num_threads"])
    if "allow_spinning" in extra:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if extra["allow_spinning"] else "0")
    return options


class OnnxModel(MLModel):
    async def load(self) -> bool:
        uri = await get_model_uri(self._settings)
        self._session = ort.InferenceSession(uri, session_options(self._settings.parameters.extra or {}), providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {tensor.name: NumpyCodec.decode_input(tensor) for tensor in payload.inputs}
        results = self._session.run(None, feeds)
        outputs = [NumpyCodec.encode_output(name, array) for name, array in zip(self._outputs, results)]
        # The codec tags each output with parameters {"content_type": "np"}; perf_analyzer's HTTP
        # client reads any output that has parameters as binary and fails, so leave them out.
        for output in outputs:
            output.parameters = None
        return InferenceResponse(model_name=self.name, outputs=outputs)

    def triton_config(self) -> dict:
        settings = self._settings

        def tensors(specs):
            return [{"name": t.name, "data_type": TRITON_TYPES[t.datatype], "dims": list(t.shape[1:])} for t in specs]

        return {
            "name": settings.name,
            "platform": "onnxruntime_onnx",
            "max_batch_size": settings.max_batch_size,
            "input": tensors(settings.inputs),
            "output": tensors(settings.outputs),
        }


class MlpModel(OnnxModel):
    @custom_handler(rest_path="/v2/models/mlp/config", rest_method="GET")
    async def config(self) -> dict:
        return self.triton_config()


class TextDirectionModel(OnnxModel):
    @custom_handler(rest_path="/v2/models/text_direction/config", rest_method="GET")
    async def config(self) -> dict:
        return self.triton_config()
