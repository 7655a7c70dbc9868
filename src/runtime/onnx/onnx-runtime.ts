/**
 * ONNX Runtime behind Modelport's Runtime seam: reads signatures from .onnx files for the
 * repository and creates instances, each one a worker thread with its own onnxruntime-node session
 * (inference blocks the thread that runs it, so it never runs on the main thread).
 */
import { silentLogger, type Logger, type ModelSignature } from '../../core/index.js';
import type { InstanceOptions, Runtime } from '../runtime.js';
import { OnnxInstance } from './onnx-instance.js';
import { inspectOnnxModel } from './onnx-signature.js';
import { buildSessionOptions } from './session-options.js';

export interface OnnxRuntimeOptions {
  logger?: Logger;
}

export class OnnxRuntime implements Runtime {
  readonly platform = 'onnxruntime_onnx';
  readonly backend = 'onnxruntime';
  readonly defaultModelFilename = 'model.onnx';
  readonly #logger: Logger;

  constructor(options: OnnxRuntimeOptions = {}) {
    this.#logger = options.logger ?? silentLogger;
  }

  /**
   * Parses the file (no session is created) and returns its graph inputs, initializers excluded,
   * and outputs; dynamic or symbolic dimensions are -1 and a scalar has shape []. Throws
   * MP_ERR_MODEL_LOAD for a missing, unreadable or corrupt file, a graph without inputs or outputs,
   * element types onnxruntime-node cannot exchange (BF16 among them), and external data stored
   * outside the model's folder.
   */
  inspect(modelPath: string): Promise<ModelSignature> {
    return inspectOnnxModel(modelPath);
  }

  /**
   * Starts a worker and resolves once its session is created. Session options come from
   * `intraOpThreads` and the configuration parameters intra_op_thread_count, inter_op_thread_count,
   * enable_mem_pattern and allow_spinning (a bad value: MP_ERR_MODEL_CONFIG). Rejects with
   * MP_ERR_MODEL_LOAD carrying onnxruntime's message when the session cannot be created.
   */
  async createInstance(options: InstanceOptions): Promise<OnnxInstance> {
    const sessionOptions = buildSessionOptions(options.intraOpThreads, options.parameters);
    const logger = this.#logger.child({ instance: options.name });
    return OnnxInstance.start({ modelPath: options.modelPath, name: options.name, sessionOptions }, logger);
  }
}
