/**
 * The model repository on a local folder (`<root>/<model>/<version>/model.onnx` beside an optional
 * config.json or config.yaml), with Triton's lifecycle and control modes. It reads and completes
 * each model's configuration, loads the versions its version policy selects (instances from the
 * runtime, a dynamic batcher in front of them), and keeps every model's state and reason for the
 * data plane. A model that fails never affects another; a reload brings new versions to READY
 * before the old ones are drained, and keeps the old ones serving when the new load fails.
 */
import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  ARRAY_TYPES,
  datatypeFromConfig,
  mpError,
  silentLogger,
  toModelportError,
  unknownModelError,
  type Logger,
  type ModelConfig,
  type ModelportError,
  type Tensor,
} from '../core/index.js';
import type { Runtime, RuntimeInstance } from '../runtime/index.js';
import { DynamicBatcher, type Scheduler } from '../scheduler/index.js';
import { completeModelConfig } from './complete-model-config.js';
import { modelFingerprint, versionFingerprint } from './folder-fingerprint.js';
import { parseModelConfig, readModelConfig, type PartialModelConfig } from './model-config-parser.js';
import { instanceCount, normalizeModelConfig, toModelConfig, type NormalizeOptions } from './normalize-model-config.js';
import type { ModelControlMode, ModelEntry, ModelVersionEntry, PinnedVersions, ReleasableRepository, RepositoryOptions } from './types.js';
import { describeVersionPolicy, listVersionFolders, selectVersions } from './version-folders.js';
import { warmupRequests, type WarmupRequest } from './warmup-requests.js';

/** Model names as Triton accepts them; it also keeps every name a single folder inside the root. */
const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Triton's --repository-poll-secs default. */
const DEFAULT_POLL_INTERVAL_MS = 15_000;
/** Triton's ONNX Runtime backend default-max-batch-size. */
const DEFAULT_MAX_BATCH_SIZE = 4;

/** Reason Triton gives a version that was unloaded on purpose; the data plane relies on it. */
const UNLOADED = 'unloaded';

export function isValidModelName(name: string): boolean {
  return MODEL_NAME.test(name);
}

/** A version that holds instances and a scheduler (READY, or UNLOADING while it drains). */
interface LoadedVersion {
  entry: ModelVersionEntry;
  instances: RuntimeInstance[];
  scheduler: Scheduler;
  /** Configuration text and version files it was loaded from: equal means nothing to reload. */
  fingerprint: string;
}

type VersionOutcome =
  | { version: number; kind: 'kept' | 'loaded'; loaded: LoadedVersion }
  | { version: number; kind: 'failed'; entry: ModelVersionEntry; error: ModelportError };

class ModelRecord {
  readonly entry: ModelEntry;
  /** Versions holding resources, by version number. */
  loaded = new Map<number, LoadedVersion>();
  /** Poll mode: the folder's fingerprint when it was last loaded. */
  fingerprint: string | undefined;

  constructor(readonly name: string) {
    this.entry = { name, state: 'UNKNOWN', reason: '', versions: [] };
  }
}

export class FolderRepository implements ReleasableRepository {
  readonly #root: string;
  readonly #runtime: Runtime;
  readonly #mode: ModelControlMode;
  readonly #pollIntervalMs: number;
  readonly #startupModels: readonly string[];
  readonly #cpuCount: number;
  readonly #instances: number | undefined;
  readonly #defaultMaxBatchSize: number;
  readonly #logger: Logger;
  readonly #onExecution: RepositoryOptions['onExecution'];
  readonly #pinnedVersions: RepositoryOptions['pinnedVersions'];
  readonly #warmup: boolean;
  readonly #defaultMaxQueueSize: number;
  readonly #fallbackTimeoutUs: number;
  readonly #normalize: Omit<NormalizeOptions, 'model'>;

  readonly #records = new Map<string, ModelRecord>();
  /**
   * Tail of each model's operations, by name: loads and unloads of one model never overlap and run
   * in the order they were asked for, checks of the folder included.
   */
  readonly #tails = new Map<string, Promise<unknown>>();
  /** models() answers from this until the set of models changes. */
  #sorted: ModelEntry[] | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #polling: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: RepositoryOptions) {
    this.#root = options.root;
    this.#runtime = options.runtime;
    this.#mode = options.controlMode;
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#startupModels = options.startupModels ?? [];
    this.#cpuCount = Math.max(1, options.cpuCount ?? availableParallelism());
    this.#instances = options.instances;
    this.#defaultMaxBatchSize = options.defaultMaxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    this.#logger = options.logger ?? silentLogger;
    this.#onExecution = options.onExecution;
    this.#pinnedVersions = options.pinnedVersions;
    this.#warmup = options.warmup ?? true;
    this.#defaultMaxQueueSize = options.defaultMaxQueueSize ?? 0;
    this.#fallbackTimeoutUs = options.fallbackTimeoutUs ?? 0;
    this.#normalize = {
      backend: this.#runtime.backend,
      platform: this.#runtime.platform,
      defaultModelFilename: this.#runtime.defaultModelFilename,
    };
  }

  async start(): Promise<void> {
    const names = await this.#scanRoot();
    if (this.#mode === 'explicit') {
      // Models on disk are listed (state UNKNOWN) so the index shows what can be loaded.
      for (const name of names) this.#record(name);
      const wanted = this.#startupModels.includes('*') ? names : [...new Set(this.#startupModels)];
      await Promise.all(
        wanted.map(async (name) => {
          if (!isValidModelName(name)) {
            this.#logger.warn({ model: name }, `not loading '${name}' at start: ${nameRuleText()}`);
            return;
          }
          const record = this.#record(name);
          if (!(await isDirectory(join(this.#root, name)))) {
            record.entry.state = 'UNAVAILABLE';
            record.entry.reason = `no folder '${name}' in the model repository`;
            this.#logger.error({ model: name }, `cannot load model '${name}' at start: ${record.entry.reason}`);
            return;
          }
          await this.#serialize(name, () => this.#loadModel(record));
        }),
      );
      return;
    }
    await Promise.all(
      names.map(async (name) => {
        const record = this.#record(name);
        if (this.#mode === 'poll') record.fingerprint = await modelFingerprint(join(this.#root, name));
        await this.#serialize(name, () => this.#loadModel(record));
      }),
    );
    if (this.#mode === 'poll') this.#schedulePoll();
  }

  async stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    await this.#polling;
    await Promise.all([...this.#records.values()].map((record) => this.#serialize(record.name, () => this.#unloadModel(record))));
  }

  models(): ModelEntry[] {
    this.#sorted ??= [...this.#records.values()].map((r) => r.entry).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return this.#sorted.slice();
  }

  model(name: string): ModelEntry | undefined {
    return this.#records.get(name)?.entry;
  }

  async load(name: string, options?: { config?: string }): Promise<void> {
    this.#checkControl('load', name);
    let override: PartialModelConfig | undefined;
    if (options?.config !== undefined) {
      // A bad override is a bad request: refused before the model's state changes.
      override = parseModelConfig(options.config, {
        model: name,
        source: "the load request's config",
        format: 'json',
        logger: this.#logger,
        ...this.#normalize,
      });
    }
    await this.#serialize(name, async () => {
      if (override === undefined && !(await isDirectory(join(this.#root, name)))) throw unknownModelError(name);
      const record = this.#record(name);
      const error = await this.#loadModel(record, override);
      if (error) throw error;
    });
  }

  async unload(name: string): Promise<void> {
    this.#checkControl('unload', name);
    await this.#serialize(name, async () => {
      let record = this.#records.get(name);
      if (!record) {
        if (!(await isDirectory(join(this.#root, name)))) throw unknownModelError(name);
        record = this.#record(name);
      }
      await this.#unloadModel(record);
    });
  }

  async reconcile(name: string): Promise<ModelportError | undefined> {
    if (this.#stopping) return mpError('MP_ERR_SERVER_STOPPING', `cannot load model '${name}': the server is stopping`);
    if (!isValidModelName(name)) return mpError('MP_ERR_REPOSITORY_NAME', `invalid model name ${JSON.stringify(name)}: ${nameRuleText()}`);
    return this.#serialize(name, async () => {
      if (!(await isDirectory(join(this.#root, name)))) return unknownModelError(name);
      return this.#loadModel(this.#record(name));
    });
  }

  async versionFolders(name: string): Promise<number[]> {
    if (!isValidModelName(name)) return [];
    return listVersionFolders(join(this.#root, name)).catch(() => []);
  }

  modelFile(name: string, version: number): string {
    const config = this.#records.get(name)?.entry.config;
    return join(this.#root, name, String(version), config?.default_model_filename || this.#runtime.defaultModelFilename);
  }

  #checkControl(action: 'load' | 'unload', name: string): void {
    if (this.#stopping) throw mpError('MP_ERR_SERVER_STOPPING', `cannot ${action} model '${name}': the server is stopping`);
    if (this.#mode !== 'explicit') {
      throw mpError(
        'MP_ERR_REPOSITORY_CONTROL_MODE',
        `explicit model ${action} is not allowed in model control mode '${this.#mode}'; ` +
          'start the server with --model-control-mode explicit to load and unload models through the API',
      );
    }
    if (!isValidModelName(name)) {
      throw mpError('MP_ERR_REPOSITORY_NAME', `invalid model name ${JSON.stringify(name)}: ${nameRuleText()}`);
    }
  }

  #record(name: string): ModelRecord {
    let record = this.#records.get(name);
    if (!record) {
      record = new ModelRecord(name);
      this.#records.set(name, record);
      this.#sorted = undefined;
    }
    return record;
  }

  /** Runs `operation` after every earlier operation on the same model has settled. */
  #serialize<T>(name: string, operation: () => Promise<T>): Promise<T> {
    const run = (this.#tails.get(name) ?? Promise.resolve()).then(operation);
    const tail = run.catch(() => undefined);
    this.#tails.set(name, tail);
    // Names asked for once (unknown ones included) must not pile up.
    void tail.then(() => {
      if (this.#tails.get(name) === tail) this.#tails.delete(name);
    });
    return run;
  }

  /** Model folder names under the root; names that break the rule are skipped with a warning. */
  async #scanRoot(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.#root, { withFileTypes: true });
    } catch (error) {
      throw mpError('MP_ERR_CONFIG_INVALID', `cannot read the model repository '${this.#root}': ${(error as Error).message}`, error);
    }
    const names: string[] = [];
    for (const entry of entries) {
      const isFolder = entry.isDirectory() || (entry.isSymbolicLink() && (await isDirectory(join(this.#root, entry.name))));
      if (!isFolder) continue;
      if (!isValidModelName(entry.name)) {
        // Hidden folders (.git, .cache) are common beside models and not worth a warning.
        if (!entry.name.startsWith('.')) this.#logger.warn({ folder: entry.name }, `skipping folder '${entry.name}' in the model repository: ${nameRuleText()}`);
        continue;
      }
      names.push(entry.name);
    }
    return names.sort();
  }

  /**
   * Loads or reloads a model and returns the failure, if any (a version that failed, or the model
   * as a whole), without throwing: start-up and polling must go on with the other models.
   */
  async #loadModel(record: ModelRecord, override?: PartialModelConfig): Promise<ModelportError | undefined> {
    const { name, entry } = record;
    const modelDir = join(this.#root, name);
    const normalize: NormalizeOptions = { model: name, ...this.#normalize };
    let base: PartialModelConfig & { name: string };
    let configText: string;
    let selection: ReturnType<typeof selectVersions>;
    try {
      if (override !== undefined) {
        base = normalizeModelConfig(override, normalize);
        configText = `load request\n${JSON.stringify(override)}`;
      } else {
        const file = await readModelConfig(modelDir, { model: name, logger: this.#logger, ...this.#normalize });
        base = normalizeModelConfig(file.config, normalize);
        configText = `${file.file ?? ''}\n${file.text}`;
      }
      this.#warnAboutApproximations(base);
      let versions: number[];
      try {
        versions = await listVersionFolders(modelDir);
      } catch (error) {
        // Nothing to load is the caller's news (404), not a server failure: the folder may have been
        // removed, or its last version deleted through the management API.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw mpError('MP_ERR_MODEL_NO_VERSIONS', `no folder '${name}' in the model repository`, error);
        throw mpError('MP_ERR_MODEL_LOAD', `cannot read model folder '${name}': ${(error as Error).message}`, error);
      }
      if (versions.length === 0) {
        throw mpError(
          'MP_ERR_MODEL_NO_VERSIONS',
          `model '${name}' has no version folder; expected numeric folders such as '${name}/1' holding '${base.default_model_filename}'`,
        );
      }
      selection = withPinned(selectVersions(versions, base.version_policy!), versions, this.#pinnedVersions?.(name));
      if (selection.selected.length === 0 && selection.missing.length === 0) {
        // Triton answers INVALID_ARG here: the configuration asks for versions that are not there.
        throw mpError('MP_ERR_MODEL_CONFIG', `the version policy (${describeVersionPolicy(base.version_policy!)}) of model '${name}' selects none of its versions (${versions.join(', ')})`);
      }
    } catch (error) {
      return this.#modelFailed(record, toModelportError(error, 'MP_ERR_MODEL_LOAD'));
    }

    // Plan: a READY version whose files and configuration did not change is kept as it is.
    const plans = await Promise.all(
      selection.selected.map(async (version) => {
        const fingerprint = `${configText}\n${await versionFingerprint(join(modelDir, String(version)))}`;
        const current = record.loaded.get(version);
        const keep = current !== undefined && current.fingerprint === fingerprint && current.entry.state === 'READY';
        const loading: ModelVersionEntry | undefined = keep
          ? undefined
          : { name, version, state: 'LOADING', reason: '', config: toModelConfig(base) };
        return { version, fingerprint, current, keep, loading };
      }),
    );
    // While loading, what serves stays listed and new versions show as LOADING.
    const interim: ModelVersionEntry[] = [...record.loaded.values()].map((l) => l.entry);
    for (const plan of plans) if (plan.loading && !plan.current) interim.push(plan.loading);
    entry.versions = sortVersions(interim);
    if (!entry.versions.some((v) => v.state === 'READY')) entry.state = 'LOADING';

    const outcomes: VersionOutcome[] = await Promise.all(
      plans.map(async (plan): Promise<VersionOutcome> => {
        if (plan.keep) return { version: plan.version, kind: 'kept', loaded: plan.current! };
        const loadingEntry = plan.loading!;
        try {
          const loaded = await this.#loadVersion(loadingEntry, base, modelDir, plan.fingerprint);
          return { version: plan.version, kind: 'loaded', loaded };
        } catch (error) {
          const failure = toModelportError(error, 'MP_ERR_MODEL_LOAD');
          loadingEntry.state = 'UNAVAILABLE';
          loadingEntry.reason = failure.message;
          this.#logger.error({ model: name, version: plan.version, reason: failure.message }, `failed to load model '${name}' version ${plan.version}: ${failure.message}`);
          return { version: plan.version, kind: 'failed', entry: loadingEntry, error: failure };
        }
      }),
    );
    const missing: ModelVersionEntry[] = selection.missing.map((version) => ({
      name,
      version,
      state: 'UNAVAILABLE',
      reason: `the version policy (${describeVersionPolicy(base.version_policy!)}) names version ${version}, but there is no folder '${name}/${version}'`,
      config: toModelConfig(base),
    }));
    for (const m of missing) this.#logger.error({ model: name, version: m.version, reason: m.reason }, `cannot load model '${name}' version ${m.version}: ${m.reason}`);
    return this.#commit(record, outcomes, missing, base);
  }

  /** Publishes a load's outcome, then drains and closes what it replaced. */
  async #commit(
    record: ModelRecord,
    outcomes: VersionOutcome[],
    missing: ModelVersionEntry[],
    base: PartialModelConfig & { name: string },
  ): Promise<ModelportError | undefined> {
    const { name, entry } = record;
    const failures = outcomes.filter((o): o is Extract<VersionOutcome, { kind: 'failed' }> => o.kind === 'failed');
    const failureText = [
      ...failures.map((f) => versionReason(name, f.version, f.error.message)),
      ...missing.map((m) => versionReason(name, m.version, m.reason)),
    ].join('; ');
    // Only versions the policy names but the folder lacks: the configuration asks for what is not
    // there (Triton's INVALID_ARG), not a failure of the server.
    const error =
      failureText === '' ? undefined : mpError(failures[0]?.error.code ?? 'MP_ERR_MODEL_CONFIG', `failed to load model '${name}': ${failureText}`, failures[0]?.error);
    const servedBefore = [...record.loaded.values()];

    if (!outcomes.some((o) => o.kind !== 'failed') && servedBefore.length > 0) {
      // Nothing of the new load is READY: the previous versions go on serving, as in Triton.
      const served = new Set(servedBefore.map((l) => l.entry.version));
      entry.versions = sortVersions([
        ...servedBefore.map((l) => l.entry),
        ...failures.filter((f) => !served.has(f.version)).map((f) => f.entry),
        ...missing.filter((m) => !served.has(m.version)),
      ]);
      entry.state = 'READY';
      entry.reason = `reload failed, the previous versions keep serving: ${failureText}`;
      this.#logger.error({ model: name, reason: failureText }, `reload of model '${name}' failed; versions ${[...served].join(', ')} keep serving`);
      return error;
    }

    const next = new Map<number, LoadedVersion>();
    const visible: ModelVersionEntry[] = [...missing];
    for (const outcome of outcomes) {
      if (outcome.kind !== 'failed') {
        next.set(outcome.version, outcome.loaded);
        visible.push(outcome.loaded.entry);
        continue;
      }
      // A version that fails to reload keeps serving its previous load.
      const previous = record.loaded.get(outcome.version);
      if (previous) {
        next.set(outcome.version, previous);
        visible.push(previous.entry);
        this.#logger.error({ model: name, version: outcome.version }, `model '${name}' version ${outcome.version} keeps serving its previous load`);
      } else {
        visible.push(outcome.entry);
      }
    }
    const retired = servedBefore.filter((l) => next.get(l.entry.version) !== l);
    record.loaded = next;
    entry.versions = sortVersions(visible);
    const ready = entry.versions.filter((v) => v.state === 'READY');
    entry.state = ready.length > 0 ? 'READY' : 'UNAVAILABLE';
    entry.reason = ready.length > 0 ? '' : failureText;
    entry.config = (ready.at(-1) ?? entry.versions.at(-1))?.config ?? toModelConfig(base);
    if (ready.length > 0) {
      this.#logger.info({ model: name, versions: ready.map((v) => v.version) }, `model '${name}' ready (versions ${ready.map((v) => v.version).join(', ')})`);
    }
    await Promise.all(retired.map((l) => this.#retire(name, l)));
    return error;
  }

  /** A failure before any version could be tried: bad configuration, no folder, no versions. */
  #modelFailed(record: ModelRecord, error: ModelportError): ModelportError {
    const { name, entry } = record;
    if (record.loaded.size > 0) {
      entry.reason = `reload failed, the previous versions keep serving: ${error.message}`;
      this.#logger.error({ model: name, reason: error.message }, `reload of model '${name}' failed; its loaded versions keep serving: ${error.message}`);
    } else {
      entry.state = 'UNAVAILABLE';
      entry.reason = error.message;
      entry.versions = [];
      delete entry.config;
      this.#logger.error({ model: name, reason: error.message }, `failed to load model '${name}': ${error.message}`);
    }
    return error;
  }

  /** LOADING → inspect → complete and check the configuration → instances → batcher → READY. */
  async #loadVersion(entry: ModelVersionEntry, base: PartialModelConfig & { name: string }, modelDir: string, fingerprint: string): Promise<LoadedVersion> {
    const { name, version } = entry;
    const started = performance.now();
    const fileName = base.default_model_filename!;
    const modelPath = join(modelDir, String(version), fileName);
    const file = await stat(modelPath).catch(() => undefined);
    if (!file?.isFile()) {
      throw mpError(
        'MP_ERR_MODEL_LOAD',
        `model file '${version}/${fileName}' of model '${name}' not found; put the model there` +
          (base.default_model_filename === this.#runtime.defaultModelFilename ? " or set 'default_model_filename'" : ''),
      );
    }
    const signature = await this.#runtime.inspect(modelPath);
    const completed = completeModelConfig(base, signature, { model: name, version, defaultMaxBatchSize: this.#defaultMaxBatchSize });
    const config: ModelConfig = normalizeModelConfig(completed, { model: name, ...this.#normalize });
    if (this.#instances !== undefined) config.instance_group = [{ name, kind: 'KIND_CPU', count: this.#instances }];
    entry.config = config;
    entry.signature = signature;
    // Checked before any instance exists: a sample that cannot be built fails the load cheaply.
    const warmups = await warmupRequests(config, modelDir);

    const count = instanceCount(config);
    const parameters: Record<string, string> = {};
    for (const [key, value] of Object.entries(config.parameters ?? {})) parameters[key] = value.string_value;
    const threads = parameters['intra_op_thread_count'];
    // Instances of a version share the cores instead of each sizing a pool to all of them.
    const intraOpThreads = threads !== undefined ? Number(threads) : Math.max(1, Math.floor(this.#cpuCount / count));
    const created = await Promise.allSettled(
      Array.from({ length: count }, (_, i) =>
        this.#runtime.createInstance({ modelPath, name: `${name}_${version}_${i}`, intraOpThreads, parameters }),
      ),
    );
    const instances = created.filter((r): r is PromiseFulfilledResult<RuntimeInstance> => r.status === 'fulfilled').map((r) => r.value);
    const rejected = created.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) {
      await this.#closeInstances(name, instances);
      throw rejected.reason;
    }
    let scheduler: Scheduler;
    const warming = { on: this.#warmup };
    try {
      scheduler = new DynamicBatcher(this.#batcherOptions(name, version, config, instances, warming));
    } catch (error) {
      await this.#closeInstances(name, instances);
      throw error;
    }
    if (warmups.length > 0) {
      try {
        await runWarmups(warmups, instances, config);
      } catch (error) {
        await scheduler.drain();
        await this.#closeInstances(name, instances);
        throw error;
      }
    } else if (warming.on) {
      await this.#warmUp(name, version, config, scheduler);
    }
    warming.on = false;
    entry.scheduler = scheduler;
    entry.state = 'READY';
    entry.reason = '';
    entry.loadSeconds = (performance.now() - started) / 1000;
    return { entry, instances, scheduler, fingerprint };
  }

  /**
   * For a configuration without `model_warmup`: one inference with zero-filled inputs of the
   * smallest shape the configuration allows. A model that refuses zeros (a sample rate of 0, say)
   * is not broken, so a failure is only a warning (`model_warmup` gives such a model inputs it
   * takes); a runtime that cannot run at all has already failed to create its instances.
   */
  async #warmUp(name: string, version: number, config: ModelConfig, scheduler: Scheduler): Promise<void> {
    const inputs = warmupInputs(config);
    if (!inputs) return;
    try {
      await scheduler.enqueue({ inputs, outputNames: config.output.map((o) => o.name), batchSize: 1 });
    } catch (error) {
      this.#logger.warn({ model: name, version, error: (error as Error).message }, `warm-up inference of model '${name}' version ${version} failed: ${(error as Error).message}`);
    }
  }

  #batcherOptions(name: string, version: number, config: ModelConfig, instances: RuntimeInstance[], warming: { on: boolean }) {
    const batching = config.dynamic_batching;
    const policy = batching?.default_queue_policy;
    const onExecution = this.#onExecution;
    return {
      name: `${name}:${version}`,
      instances,
      maxBatchSize: config.max_batch_size,
      preferredBatchSizes: batching?.preferred_batch_size ?? [],
      maxQueueDelayUs: batching?.max_queue_delay_microseconds ?? 0,
      // Normalised configurations say 0 both for "not set" and "unbounded": the server's default bounds both.
      maxQueueSize: policy?.max_queue_size || this.#defaultMaxQueueSize,
      // DELAY keeps timed-out requests in the queue; without reordering, that means no timeout.
      defaultTimeoutUs: policy?.timeout_action === 'DELAY' ? 0 : (policy?.default_timeout_microseconds ?? 0),
      allowTimeoutOverride: policy?.allow_timeout_override ?? false,
      fallbackTimeoutUs: policy?.timeout_action === 'DELAY' ? 0 : this.#fallbackTimeoutUs,
      // Warm-up runs stay out of the statistics: they count only what clients asked.
      onExecution: onExecution
        ? (record: Parameters<NonNullable<typeof onExecution>>[2]) => {
            if (!warming.on) onExecution(name, version, record);
          }
        : undefined,
    };
  }

  #warnAboutApproximations(config: PartialModelConfig & { name: string }): void {
    const policy = config.dynamic_batching?.default_queue_policy;
    if (policy?.timeout_action === 'DELAY' && (policy.default_timeout_microseconds ?? 0) > 0) {
      this.#logger.warn(
        { model: config.name },
        `model '${config.name}': timeout_action DELAY is served without reordering: queued requests are not rejected at default_timeout_microseconds and keep their place`,
      );
    }
  }

  /** UNLOADING → drain → close instances → UNAVAILABLE "unloaded". */
  async #retire(name: string, loaded: LoadedVersion): Promise<void> {
    const { entry } = loaded;
    entry.state = 'UNLOADING';
    try {
      await loaded.scheduler.drain();
    } finally {
      await this.#closeInstances(name, loaded.instances);
      entry.state = 'UNAVAILABLE';
      entry.reason = UNLOADED;
      delete entry.scheduler;
      this.#logger.info({ model: name, version: entry.version }, `model '${name}' version ${entry.version} unloaded`);
    }
  }

  async #closeInstances(name: string, instances: RuntimeInstance[]): Promise<void> {
    const results = await Promise.allSettled(instances.map((instance) => instance.close()));
    for (const result of results) {
      if (result.status === 'rejected') {
        this.#logger.warn({ model: name, error: String(result.reason) }, `closing an instance of model '${name}' failed: ${String(result.reason)}`);
      }
    }
  }

  async #unloadModel(record: ModelRecord): Promise<void> {
    const { entry } = record;
    const loaded = [...record.loaded.values()];
    record.loaded = new Map();
    record.fingerprint = undefined;
    if (loaded.length === 0 && entry.state === 'UNKNOWN') return;
    await Promise.all(loaded.map((l) => this.#retire(record.name, l)));
    for (const version of entry.versions) {
      version.state = 'UNAVAILABLE';
      version.reason = UNLOADED;
      delete version.scheduler;
    }
    entry.state = 'UNAVAILABLE';
    entry.reason = UNLOADED;
  }

  #schedulePoll(): void {
    if (this.#stopping) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#polling = this.#poll().finally(() => {
        this.#polling = undefined;
        this.#schedulePoll();
      });
    }, this.#pollIntervalMs);
    // Polling alone must not keep the process alive.
    this.#pollTimer.unref();
  }

  /** One rescan: new folders load, changed ones reload, removed ones unload and leave the list. */
  async #poll(): Promise<void> {
    let names: string[];
    try {
      names = await this.#scanRoot();
    } catch (error) {
      this.#logger.error({ error: (error as Error).message }, `model repository poll failed: ${(error as Error).message}`);
      return;
    }
    const onDisk = new Set(names);
    const work: Promise<unknown>[] = [];
    for (const record of [...this.#records.values()]) {
      if (onDisk.has(record.name)) continue;
      work.push(
        this.#serialize(record.name, async () => {
          await this.#unloadModel(record);
          this.#logger.info({ model: record.name }, `model '${record.name}' removed from the repository`);
          if (this.#records.get(record.name) === record) {
            this.#records.delete(record.name);
            this.#sorted = undefined;
          }
        }),
      );
    }
    for (const name of names) {
      work.push(
        (async () => {
          const fingerprint = await modelFingerprint(join(this.#root, name));
          const record = this.#records.get(name);
          if (record && record.fingerprint === fingerprint) return;
          if (this.#stopping) return;
          const target = record ?? this.#record(name);
          target.fingerprint = fingerprint;
          this.#logger.info({ model: name }, record ? `model '${name}' changed on disk; reloading` : `new model '${name}' found; loading`);
          await this.#serialize(name, () => this.#loadModel(target));
        })(),
      );
    }
    await Promise.all(work);
  }
}

/**
 * The policy's selection plus pinned versions (or the pinned versions alone, for a model the
 * registry routes): those on disk load, the others are reported missing.
 */
function withPinned(selection: ReturnType<typeof selectVersions>, onDisk: readonly number[], pinned: PinnedVersions | undefined): ReturnType<typeof selectVersions> {
  if (!pinned) return selection;
  const present = new Set(onDisk);
  const selected = new Set(pinned.replacePolicy ? [] : selection.selected);
  const missing = new Set(pinned.replacePolicy ? [] : selection.missing);
  for (const version of pinned.versions) {
    if (present.has(version)) selected.add(version);
    else missing.add(version);
  }
  return { selected: [...selected].sort((a, b) => a - b), missing: [...missing].sort((a, b) => a - b) };
}

/**
 * The configuration's warm-up requests on every instance (each has its own session to warm), the
 * instances side by side and each request's runs in order. Any failure fails the load, as in
 * Triton: the configuration asked for these requests to work.
 */
async function runWarmups(requests: readonly WarmupRequest[], instances: readonly RuntimeInstance[], config: ModelConfig): Promise<void> {
  const outputNames = config.output.map((o) => o.name);
  await Promise.all(
    instances.map(async (instance) => {
      for (const request of requests) {
        for (let run = 0; run < request.runs; run++) {
          try {
            await instance.run(request.inputs(), outputNames);
          } catch (error) {
            throw mpError('MP_ERR_MODEL_LOAD', `model '${config.name}': ${request.label} failed on instance '${instance.name}': ${(error as Error).message}`, error);
          }
        }
      }
    }),
  );
}

/** Zero-filled inputs for a warm-up run, or undefined when a shape or type cannot be generated. */
function warmupInputs(config: ModelConfig): Tensor[] | undefined {
  const batching = config.max_batch_size > 0;
  const inputs: Tensor[] = [];
  for (const spec of config.input) {
    const datatype = datatypeFromConfig(spec.data_type);
    if (!datatype || datatype === 'BYTES' || spec.optional) return undefined;
    const dims = spec.dims.map((d) => (d < 0 ? 1 : d));
    const shape = batching ? [1, ...dims] : dims;
    const count = shape.reduce((a, b) => a * b, 1);
    if (count > 1 << 24) return undefined;
    inputs.push({ name: spec.name, datatype, shape, data: new ARRAY_TYPES[datatype](count) as Tensor['data'] });
  }
  return inputs;
}

function sortVersions(versions: ModelVersionEntry[]): ModelVersionEntry[] {
  return versions.sort((a, b) => a.version - b.version);
}

function versionReason(model: string, version: number, reason: string): string {
  return reason.includes(`'${model}'`) && reason.includes(`version ${version}`) ? reason : `version ${version}: ${reason}`;
}

function nameRuleText(): string {
  return 'a model name is a single folder name of letters, digits, "_", "." and "-" that starts with a letter, digit or "_"';
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
