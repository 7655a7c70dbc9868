/**
 * The model repository's public surface: what the data plane asks of it (which models and
 * versions exist, their state, configuration and scheduler) and how it is controlled.
 */
import type { Logger, ModelConfig, ModelSignature, ModelState } from '../core/index.js';
import type { Runtime } from '../runtime/index.js';
import type { ExecutionRecord, Scheduler } from '../scheduler/index.js';

export type ModelControlMode = 'none' | 'poll' | 'explicit';

export interface RepositoryOptions {
  /** Folder holding <model>/config.(json|yaml) and <model>/<version>/model.onnx. */
  root: string;
  runtime: Runtime;
  controlMode: ModelControlMode;
  /** Rescan period in poll mode. */
  pollIntervalMs?: number;
  /** Explicit mode: models to load at start ("*" = all). */
  startupModels?: string[];
  /** Cores available to inference; instances × intra-op threads are sized to fit. */
  cpuCount?: number;
  /**
   * Instances per loaded version, in place of every configuration's instance_group (one group of
   * this many KIND_CPU instances, sharing cpuCount): `modelport batch --instances`.
   */
  instances?: number;
  /**
   * max_batch_size given to a model whose configuration does not set it and whose file has a
   * dynamic leading dimension on every input and output (Triton's --backend-config
   * onnxruntime,default-max-batch-size; 4 when absent, as there). 0 turns batching off for them.
   */
  defaultMaxBatchSize?: number;
  logger?: Logger;
  /** Called once per executed batch of any version (warm-up runs excluded). */
  onExecution?: (model: string, version: number, record: ExecutionRecord) => void;
  /**
   * Versions the registry needs loaded (routing arms, aliases, a rollback's warm window), asked on
   * every (re)load of the model. With `replacePolicy` they are exactly what loads (a model whose
   * traffic the registry routes); otherwise they load besides what the version policy selects.
   */
  pinnedVersions?: (model: string) => PinnedVersions;
  /**
   * Run one inference with generated inputs on every new version before it turns READY, so the
   * first real request does not pay for lazy initialisation (default true). A configuration's own
   * `model_warmup` samples run whatever this says: the configuration asks for them.
   */
  warmup?: boolean;
  /**
   * max_queue_size of a version whose configuration sets none (0): every queue is bounded unless
   * this is 0 too. Default 0 (unbounded, Triton's rule); the server passes its own default.
   */
  defaultMaxQueueSize?: number;
  /**
   * Queue timeout, µs, for requests that get none from their `timeout` parameter or the model's
   * default_timeout_microseconds; 0 = none.
   */
  fallbackTimeoutUs?: number;
}

export interface PinnedVersions {
  versions: Iterable<number>;
  replacePolicy: boolean;
}

export interface ModelVersionEntry {
  name: string;
  version: number;
  state: ModelState;
  /** Why the version is UNAVAILABLE (empty when it is not). */
  reason: string;
  /** Normalised configuration this version was loaded with. */
  config: ModelConfig;
  signature?: ModelSignature;
  /** Present exactly while state is READY. */
  scheduler?: Scheduler;
  /** How long the last load took: file check, signature, sessions, scheduler. */
  loadSeconds?: number;
}

export interface ModelEntry {
  name: string;
  /** Model-level state: UNAVAILABLE when the model could not even be read (bad config, no versions). */
  state: ModelState;
  reason: string;
  /** Normalised configuration, when it could be read. */
  config?: ModelConfig;
  /** Versions the version policy selected, ascending. */
  versions: ModelVersionEntry[];
}

export interface ModelRepository {
  /** Scans the folder and loads what the control mode says; never throws for a bad model. */
  start(): Promise<void>;
  /** Stops polling, drains every scheduler, closes every instance. */
  stop(): Promise<void>;
  /** Every model known (on disk or loaded), sorted by name. */
  models(): ModelEntry[];
  model(name: string): ModelEntry | undefined;
  /**
   * Loads or reloads a model (explicit mode only; otherwise MP_ERR_REPOSITORY_CONTROL_MODE).
   * `config` (JSON text) overrides the configuration on disk. New versions become READY before
   * old ones are unloaded. Resolves when done; rejects with the reason if the model failed to load.
   */
  load(name: string, options?: { config?: string }): Promise<void>;
  /** Unloads every version of a model (explicit mode only). In-flight requests finish first. */
  unload(name: string): Promise<void>;
}

/** What the release manager needs besides the data plane's view: loading to order, and the files. */
export interface ReleasableRepository extends ModelRepository {
  /**
   * Brings a model's loaded versions in line with its version policy and pinned versions, in any
   * control mode: loads what is missing (READY only after warm-up), keeps what is unchanged, and
   * drains and unloads what is no longer wanted. Returns the failure instead of throwing.
   */
  reconcile(name: string): Promise<import('../core/index.js').ModelportError | undefined>;
  /** Version folders of a model on disk, ascending (empty when the model has no folder). */
  versionFolders(name: string): Promise<number[]>;
  /** Path of a version's model file. */
  modelFile(name: string, version: number): string;
}
