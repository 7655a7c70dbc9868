/**
 * The seam between Modelport and whatever executes a model. The scheduler hands an instance a
 * whole batch and gets the outputs back; the repository asks the runtime for a model's signature.
 * The ONNX implementation (runtime/onnx) runs each instance in its own worker thread.
 */
import type { ModelSignature, Tensor } from '../core/index.js';

export interface InstanceOptions {
  /** Absolute path of the model file. */
  modelPath: string;
  /** Label used in logs and thread names, e.g. "mlp_1_0". */
  name: string;
  /** Intra-op threads for this instance's engine; sized by the caller so instances × threads ≤ cores. */
  intraOpThreads: number;
  /** Engine-specific options from the model configuration's `parameters`. */
  parameters?: Record<string, string>;
}

export interface RunResult {
  outputs: Tensor[];
  /** Time the engine itself spent executing, in nanoseconds. */
  inferNs: number;
}

/**
 * One loaded copy of a model. At most one `run` is in flight per instance (the scheduler
 * guarantees it). If the thread behind it dies, the in-flight `run` rejects with
 * MP_ERR_RUNTIME_CRASHED and the instance replaces its thread before accepting the next run.
 */
export interface RuntimeInstance {
  readonly name: string;
  /**
   * Executes one batch. Input tensors' buffers may be transferred to another thread and must not
   * be used by the caller afterwards. Returns the requested outputs in `outputNames` order.
   */
  run(inputs: Tensor[], outputNames: readonly string[]): Promise<RunResult>;
  close(): Promise<void>;
}

export interface Runtime {
  /** Platform name reported in model metadata, e.g. "onnxruntime_onnx". */
  readonly platform: string;
  /** Backend name as in Triton configs, e.g. "onnxruntime". */
  readonly backend: string;
  /** Default model file name inside a version folder, e.g. "model.onnx". */
  readonly defaultModelFilename: string;
  /**
   * Reads the signature from the model file, checking that it is a loadable model of this
   * runtime's format. Throws MP_ERR_MODEL_LOAD naming what is wrong with the file.
   */
  inspect(modelPath: string): Promise<ModelSignature>;
  createInstance(options: InstanceOptions): Promise<RuntimeInstance>;
}
