/**
 * A BatchInferencer over the data plane of this process: the same validation, scheduler and
 * runtime instances as the server's requests. Used by `modelport batch` without --url (the model
 * is loaded in-process) and by anything inside a running server that wants to run a job there.
 *
 * Every request names the version resolved by describe(), so a job never mixes versions even if
 * another version becomes READY while it runs, and carries BATCH_PRIORITY so that, in a scheduler
 * shared with online traffic, waiting batch requests go after every waiting online request.
 */
import { mpError, OFFLINE_PRIORITY, type Tensor } from '../core/index.js';
import type { DataPlaneApi } from '../dataplane/index.js';
import type { BatchInferencer, BatchModel } from './batch-types.js';

/**
 * Scheduler priority of batch-job requests: core's OFFLINE_PRIORITY, after every online request
 * whatever the model's priority levels (the data plane hands `context.priority` to the dynamic
 * batcher as it is, and the batcher runs lower numbers first).
 */
export const BATCH_PRIORITY = OFFLINE_PRIORITY;

/** What describe() adds to BatchModel: how many instances run the version (sizes the job's concurrency). */
export interface DescribedModel extends BatchModel {
  instances?: number;
}

export interface InProcessInferencerOptions {
  model: string;
  /** Default: the highest READY version when describe() runs. */
  version?: string;
  /** The model file's digest, or a way to get it for the version describe() resolves. */
  digest?: string | ((version: string) => Promise<string | undefined>);
  /** Default BATCH_PRIORITY. */
  priority?: number;
}

export class InProcessInferencer implements BatchInferencer {
  readonly #dataPlane: DataPlaneApi;
  readonly #options: InProcessInferencerOptions;
  #version: string | undefined;
  #outputs: Array<{ name: string }> | undefined;

  constructor(dataPlane: DataPlaneApi, options: InProcessInferencerOptions) {
    this.#dataPlane = dataPlane;
    this.#options = options;
  }

  async describe(): Promise<DescribedModel> {
    const { model } = this.#options;
    const metadata = this.#dataPlane.modelMetadata(model, this.#options.version);
    const version = this.#options.version ?? highestVersion(metadata.versions);
    if (version === undefined) {
      throw mpError('MP_ERR_MODEL_NOT_READY', `model '${model}' has no READY version to run the job on`);
    }
    if (!this.#dataPlane.isModelReady(model, version)) {
      throw mpError('MP_ERR_MODEL_NOT_READY', `model '${model}' version ${version} is not READY`);
    }
    const config = this.#dataPlane.modelConfig(model, version);
    const pinned = this.#dataPlane.modelMetadata(model, version);
    this.#version = version;
    this.#outputs = pinned.outputs.map(({ name }) => ({ name }));
    const digest = typeof this.#options.digest === 'function' ? await this.#options.digest(version) : this.#options.digest;
    const instances = (config.instance_group ?? []).reduce((sum, group) => sum + (group.count ?? 1), 0);
    const described: DescribedModel = {
      name: model,
      version,
      inputs: pinned.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape: [...shape] })),
      outputs: pinned.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape: [...shape] })),
      maxBatchSize: config.max_batch_size,
      instances: Math.max(1, instances),
    };
    if (digest !== undefined) described.digest = digest;
    return described;
  }

  async infer(inputs: Tensor[]): Promise<Tensor[]> {
    if (this.#version === undefined) await this.describe();
    const response = await this.#dataPlane.infer(
      // Every output, in the model's order: rows are written by name, but asking explicitly keeps
      // the answer independent of any default the data plane might apply.
      { modelName: this.#options.model, modelVersion: this.#version!, inputs, outputs: this.#outputs! },
      { protocol: 'inprocess', priority: this.#options.priority ?? BATCH_PRIORITY },
    );
    return response.outputs;
  }
}

/** The highest version number of a list of version strings. */
export function highestVersion(versions: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const version of versions) if (best === undefined || Number(version) > Number(best)) best = version;
  return best;
}
