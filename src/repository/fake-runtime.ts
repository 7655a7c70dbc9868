/**
 * A Runtime test double for repository tests. Its "model files" are small JSON documents naming
 * the signature (and, on demand, a failure for inspect or for instance creation), so a test writes
 * exactly the model it needs into a temporary folder. Instances echo their inputs as outputs, count
 * runs and remember whether they were closed; `hold()` stops instance creation until released, so
 * a test can look at the repository while a load is under way.
 */
import { readFile } from 'node:fs/promises';
import { mpError, type ModelSignature, type Tensor, type TensorSpec } from '../core/index.js';
import type { InstanceOptions, RunResult, Runtime, RuntimeInstance } from '../runtime/index.js';

export interface FakeModelFile {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** inspect() rejects with this message. */
  failInspect?: string;
  /** createInstance() rejects with this message... */
  failInstance?: string;
  /** ...only for the instance whose name ends in `_<index>`, when set. */
  failInstanceIndex?: number;
}

/** The text of a fake model file. */
export function fakeModel(file: FakeModelFile): string {
  return JSON.stringify(file);
}

export class FakeInstance implements RuntimeInstance {
  closed = false;
  runs = 0;

  constructor(
    readonly options: InstanceOptions,
    readonly file: FakeModelFile,
  ) {}

  get name(): string {
    return this.options.name;
  }

  async run(inputs: Tensor[], outputNames: readonly string[]): Promise<RunResult> {
    if (this.closed) throw mpError('MP_ERR_RUNTIME_FAILED', `instance ${this.name} is closed`);
    this.runs++;
    const outputs = outputNames.map((name, i) => ({ ...inputs[i % inputs.length]!, name }));
    return { outputs, inferNs: 1000 };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakeRuntime implements Runtime {
  readonly platform = 'onnxruntime_onnx';
  readonly backend = 'onnxruntime';
  readonly defaultModelFilename = 'model.onnx';
  readonly instances: FakeInstance[] = [];
  #held: Promise<void> | undefined;
  #release: (() => void) | undefined;

  /** Instances not closed yet. */
  get open(): FakeInstance[] {
    return this.instances.filter((i) => !i.closed);
  }

  /** Makes createInstance wait until the returned function is called. */
  hold(): () => void {
    this.#held = new Promise((resolve) => (this.#release = resolve));
    return () => {
      this.#held = undefined;
      this.#release?.();
    };
  }

  async inspect(modelPath: string): Promise<ModelSignature> {
    const file = await readModelFile(modelPath);
    if (file.failInspect) throw mpError('MP_ERR_MODEL_LOAD', file.failInspect);
    return { inputs: file.inputs, outputs: file.outputs };
  }

  async createInstance(options: InstanceOptions): Promise<FakeInstance> {
    if (this.#held) await this.#held;
    const file = await readModelFile(options.modelPath);
    if (file.failInstance && (file.failInstanceIndex === undefined || options.name.endsWith(`_${file.failInstanceIndex}`))) {
      throw mpError('MP_ERR_MODEL_LOAD', file.failInstance);
    }
    const instance = new FakeInstance(options, file);
    this.instances.push(instance);
    return instance;
  }
}

async function readModelFile(path: string): Promise<FakeModelFile> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as FakeModelFile;
  } catch {
    throw mpError('MP_ERR_MODEL_LOAD', `'${path}' is not a model file this runtime can read`);
  }
}
