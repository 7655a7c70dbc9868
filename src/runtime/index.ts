/** Model execution: the Runtime seam and its ONNX Runtime implementation. */
export type { Runtime, RuntimeInstance, InstanceOptions, RunResult } from './runtime.js';
export { OnnxRuntime } from './onnx/index.js';
