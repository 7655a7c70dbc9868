/** ONNX Runtime (onnxruntime-node) behind the Runtime seam, one worker thread per instance. */
export { OnnxRuntime } from './onnx-runtime.js';
