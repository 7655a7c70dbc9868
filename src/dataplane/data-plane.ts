/**
 * The protocol-neutral entry every adapter calls: health, server and model metadata, model
 * configuration, statistics, repository index/load/unload, and inference. An infer is resolved to
 * a version, validated against that version's signature, queued on its scheduler and recorded in
 * the statistics. Nothing here knows whether the caller speaks HTTP, gRPC or is a batch job.
 */
import {
  datatypeFromConfig,
  DEFAULT_REQUEST_LIMITS,
  mpError,
  OFFLINE_PARAMETER,
  OFFLINE_PRIORITY,
  toModelportError,
  unknownModelError,
  type Datatype,
  type InferenceRequest,
  type InferenceResponse,
  type ModelConfig,
  type RequestContext,
  type RequestLimits,
  type Tensor,
  type TensorConfig,
} from '../core/index.js';
import type { PayloadEvent, RequestMetricsSink } from '../monitoring/index.js';
import { instanceCount, type ModelEntry, type ModelRepository, type ModelVersionEntry } from '../repository/index.js';
import type { ScheduledRequest } from '../scheduler/index.js';
import { parseVersion, VersionRouter, outputsAgree, unknownVersionName, type RouteDecision, type RouteKey, type ServingRouter } from '../rollout/index.js';
import { validateRequest } from './request-validator.js';
import { FAILURE_REASONS, type FailureReason, type StatisticsRecorder } from './statistics-recorder.js';
import type {
  DataPlaneApi,
  FailureCount,
  ServingVersion,
  RequestLogEntry,
  LoadModelOptions,
  ModelMetadata,
  ModelVersionStatistics,
  RepositoryIndexEntry,
  ServerMetadata,
  TensorMetadata,
} from './types.js';

/** Extensions Modelport implements; perf_analyzer changes behaviour on `statistics`. */
const EXTENSIONS = [
  'binary_tensor_data',
  'model_configuration',
  'model_repository',
  'schedule_policy',
  'parameters',
  'statistics',
];

export interface DataPlaneOptions {
  repository: ModelRepository;
  statistics: StatisticsRecorder;
  serverName?: string;
  serverVersion: string;
  /** Triton's strict readiness: the server is ready only while every model it should serve is READY. */
  strictReadiness?: boolean;
  /** Latency histograms and the like, observed per request. */
  metrics?: RequestMetricsSink;
  /** Called once per inference request that reached a model version, for request logs. */
  requestLog?: (entry: RequestLogEntry) => void;
  /** Sampled payload logging; `offer` must return at once. */
  payloadLog?: {
    sample(model: string): boolean;
    /** Copies of the inputs that outlive inference (whose buffers may move to a worker thread), for offer(). */
    copyInputs(inputs: readonly Tensor[]): Tensor[];
    offer(event: PayloadEvent): void;
  };
  /**
   * Release routing (registry aliases, traffic splits, shadows) and the rollout analysis fed by
   * every request's outcome. Without it: the named version, else the highest READY one.
   */
  releases?: ServingRouter;
  /** Live drift windows: rows captured before inference (inputs may move to a worker), kept on success. */
  drift?: { capture(model: string, version: string, inputs: readonly Tensor[]): { commit(outputs?: readonly Tensor[]): void } | undefined };
  /** How large one inference request may be (the adapters check while decoding); default DEFAULT_REQUEST_LIMITS. */
  limits?: RequestLimits;
}

/** The arm of a request when no release routing is configured. */
const STABLE_ARM = 'stable';

/** Triton's failure reasons: refused by the scheduler, cancelled, failed in the runtime, anything else. */
function failureReason(code: string): FailureReason {
  switch (code) {
    case 'MP_ERR_QUEUE_FULL':
    case 'MP_ERR_OVERLOADED':
    case 'MP_ERR_REQUEST_TIMEOUT':
    case 'MP_ERR_SERVER_STOPPING':
      return 'REJECTED';
    case 'MP_ERR_REQUEST_CANCELLED':
      return 'CANCELED';
    case 'MP_ERR_RUNTIME_CRASHED':
    case 'MP_ERR_RUNTIME_FAILED':
      return 'BACKEND';
    default:
      return 'OTHER';
  }
}

export class DataPlane implements DataPlaneApi {
  readonly #repository: ModelRepository;
  readonly #statistics: StatisticsRecorder;
  readonly #router = new VersionRouter();
  readonly #metadata: ServerMetadata;
  readonly #strictReadiness: boolean;
  readonly #metrics: RequestMetricsSink | undefined;
  readonly #requestLog: ((entry: RequestLogEntry) => void) | undefined;
  readonly #payloadLog: DataPlaneOptions['payloadLog'];
  readonly #releases: ServingRouter | undefined;
  readonly #drift: DataPlaneOptions['drift'];
  readonly limits: RequestLimits;
  #accepting = false;

  constructor(options: DataPlaneOptions) {
    this.#repository = options.repository;
    this.#statistics = options.statistics;
    this.#strictReadiness = options.strictReadiness ?? true;
    this.#metrics = options.metrics;
    this.#requestLog = options.requestLog;
    this.#payloadLog = options.payloadLog;
    this.#releases = options.releases;
    this.#drift = options.drift;
    this.limits = options.limits ?? DEFAULT_REQUEST_LIMITS;
    this.#metadata = { name: options.serverName ?? 'modelport', version: options.serverVersion, extensions: EXTENSIONS };
  }

  /**
   * Marks the server ready to take traffic (after start-up loading) or not (during shutdown, so
   * load balancers stop sending). Requests that still arrive are served until the listener closes.
   */
  setAccepting(accepting: boolean): void {
    this.#accepting = accepting;
  }

  isLive(): boolean {
    return true;
  }

  isReady(): boolean {
    if (!this.#accepting) return false;
    if (!this.#strictReadiness) return true;
    for (const model of this.#repository.models()) {
      if (!shouldServe(model)) continue;
      if (!model.versions.some((v) => v.state === 'READY')) return false;
      if (model.versions.some((v) => v.state !== 'READY' && v.reason !== 'unloaded')) return false;
    }
    return true;
  }

  serverMetadata(): ServerMetadata {
    return { ...this.#metadata, extensions: [...this.#metadata.extensions] };
  }

  modelMetadata(name: string, version?: string): ModelMetadata {
    const entry = this.#model(name);
    const number = this.#versionNumber(entry, version);
    let config: ModelConfig;
    let versions: string[];
    if (number !== undefined) {
      config = this.#router.version(entry, number).config;
      versions = [String(number)];
    } else {
      const ready = entry.versions.filter((v) => v.state === 'READY');
      const latest = ready.at(-1) ?? entry.versions.at(-1);
      config = latest?.config ?? entry.config ?? missingConfig(name, entry);
      versions = ready.map((v) => String(v.version));
    }
    const batching = config.max_batch_size > 0;
    return {
      name,
      versions,
      platform: config.platform ?? config.backend ?? '',
      inputs: config.input.map((t) => tensorMetadata(t, batching)),
      outputs: config.output.map((t) => tensorMetadata(t, batching)),
    };
  }

  isModelReady(name: string, version?: string): boolean {
    const entry = this.#model(name);
    const number = this.#versionNumber(entry, version);
    if (number !== undefined) {
      const found = entry.versions.find((v) => v.version === number);
      return found?.state === 'READY';
    }
    return entry.versions.some((v) => v.state === 'READY');
  }

  modelConfig(name: string, version?: string): ModelConfig {
    const entry = this.#model(name);
    const number = this.#versionNumber(entry, version);
    if (number !== undefined) return structuredClone(this.#router.version(entry, number).config);
    const config = entry.versions.at(-1)?.config ?? entry.config;
    return structuredClone(config ?? missingConfig(name, entry));
  }

  modelStatistics(name?: string, version?: string): { model_stats: ModelVersionStatistics[] } {
    const entries = name === undefined ? this.#repository.models() : [this.#model(name)];
    const number = name === undefined ? undefined : this.#versionNumber(entries[0]!, version);
    const stats: ModelVersionStatistics[] = [];
    for (const entry of entries) {
      if (number !== undefined) {
        const found = this.#router.version(entry, number);
        stats.push(this.#statistics.snapshot(entry.name, found.version));
        continue;
      }
      for (const v of entry.versions) {
        // Triton lists versions that are loaded; unloaded ones drop out of the statistics.
        if (v.state === 'READY' || name !== undefined) stats.push(this.#statistics.snapshot(entry.name, v.version));
      }
    }
    return { model_stats: stats };
  }

  failureCounts(): FailureCount[] {
    const counts: FailureCount[] = [];
    for (const model of this.#repository.models()) {
      for (const v of model.versions) {
        if (v.state !== 'READY') continue;
        const reasons = this.#statistics.failureReasons(model.name, v.version);
        for (const reason of FAILURE_REASONS) counts.push({ model: model.name, version: String(v.version), reason, count: reasons[reason] });
      }
    }
    return counts;
  }

  servingVersions(): ServingVersion[] {
    const depths: ServingVersion[] = [];
    for (const model of this.#repository.models()) {
      for (const v of model.versions) {
        if (v.state === 'READY' && v.scheduler) {
          depths.push({
            model: model.name,
            version: String(v.version),
            queued: v.scheduler.stats().queued,
            instances: instanceCount(v.config),
            loadSeconds: v.loadSeconds ?? 0,
          });
        }
      }
    }
    return depths;
  }

  repositoryIndex(readyOnly: boolean): RepositoryIndexEntry[] {
    const index: RepositoryIndexEntry[] = [];
    for (const model of this.#repository.models()) {
      if (model.versions.length === 0) {
        if (readyOnly) continue;
        index.push(withReason({ name: model.name, state: model.state }, model.reason));
        continue;
      }
      for (const v of model.versions) {
        if (readyOnly && v.state !== 'READY') continue;
        index.push(withReason({ name: model.name, version: String(v.version), state: v.state }, v.reason));
      }
    }
    return index;
  }

  async loadModel(name: string, options?: LoadModelOptions): Promise<void> {
    await this.#repository.load(name, options?.config === undefined ? undefined : { config: options.config });
  }

  async unloadModel(name: string): Promise<void> {
    await this.#repository.unload(name);
  }

  async infer(request: InferenceRequest, context: RequestContext): Promise<InferenceResponse> {
    const started = process.hrtime.bigint();
    const entry = this.#model(request.modelName);
    const decision: RouteDecision = this.#releases
      ? this.#releases.route(entry, request.modelVersion, routeKey(request, context))
      : { version: this.#router.serving(entry, this.#versionNumber(entry, request.modelVersion)), arm: STABLE_ARM };
    const served = decision.version;
    const { version } = served;
    const arm = decision.arm;
    // Copied before the live request's buffers move to a worker thread.
    const mirror = decision.shadow ? this.#mirror(request, decision.shadow) : undefined;
    // Copied now, when sampled: inputs may be handed to a worker thread (their memory moves).
    const loggedInputs = this.#payloadLog?.sample(entry.name) ? this.#payloadLog.copyInputs(request.inputs) : undefined;
    try {
      const validated = validateRequest(request, served.config);
      const driftCapture = this.#drift?.capture(entry.name, String(version), validated.inputs);
      const parameters = request.parameters;
      const timeoutUs = parameters ? numberParameter(parameters, 'timeout') : undefined;
      const priority = context.priority ?? (parameters?.[OFFLINE_PARAMETER] === true ? OFFLINE_PRIORITY : priorityLevel(parameters ? numberParameter(parameters, 'priority') : undefined, served.config));
      const scheduled: ScheduledRequest = {
        inputs: validated.inputs,
        outputNames: validated.outputNames,
        batchSize: validated.batchSize,
        timeoutUs,
        priority,
      };
      // Whatever is left of it when the request reaches the scheduler, at least 1 µs: a deadline
      // that already passed is still a deadline.
      if (context.deadline !== undefined) scheduled.deadlineUs = Math.max(1, (context.deadline - Date.now()) * 1000);
      if (context.receivedAt !== undefined) scheduled.waitedUs = Math.max(0, (performance.now() - context.receivedAt) * 1000);
      if (context.isCancelled) scheduled.isCancelled = context.isCancelled;
      else if ('signal' in context) {
        // A getter, not a copy: the scheduler reads it only if the request has to wait in a
        // queue, and callers may build their signal lazily.
        Object.defineProperty(scheduled, 'signal', { get: () => context.signal, enumerable: true });
      }
      const result = await served.scheduler!.enqueue(scheduled);
      const elapsed = Number(process.hrtime.bigint() - started);
      this.#statistics.recordSuccess(entry.name, version, elapsed, validated.batchSize, result.timing);
      this.#releases?.observe(entry.name, arm, true, elapsed / 1e6, result.outputs);
      driftCapture?.commit(result.outputs);
      if (mirror) this.#compareMirror(entry.name, decision.shadow!.version, mirror, result.outputs, elapsed / 1e6);
      this.#observe(
        context,
        entry.name,
        version,
        arm,
        'ok',
        elapsed,
        { queueMs: result.timing.queueNs / 1e6, batchSize: result.timing.batchSize },
        loggedInputs && { inputs: loggedInputs, outputs: result.outputs },
      );
      const response: InferenceResponse = {
        modelName: entry.name,
        modelVersion: String(version),
        outputs: result.outputs,
        timing: result.timing,
        arm,
      };
      if (request.id) response.id = request.id;
      return response;
    } catch (error) {
      const failure = toModelportError(error);
      const elapsed = Number(process.hrtime.bigint() - started);
      this.#statistics.recordFailure(entry.name, version, elapsed, failureReason(failure.code));
      // A client that went away says nothing about the version.
      if (failure.kind !== 'CANCELLED') this.#releases?.observe(entry.name, arm, false, elapsed / 1e6);
      this.#observe(context, entry.name, version, arm, failure.code, elapsed, { error: failure.message }, loggedInputs && { inputs: loggedInputs });
      throw failure;
    }
  }

  /**
   * Metrics, the request log line and (when sampled) the payload record of one finished request;
   * `outcome` is "ok" or an error code.
   */
  #observe(
    context: RequestContext,
    model: string,
    version: number,
    arm: string,
    outcome: string,
    elapsedNs: number,
    details: Pick<RequestLogEntry, 'queueMs' | 'batchSize' | 'error'>,
    payload?: Pick<PayloadEvent, 'inputs' | 'outputs'>,
  ): void {
    this.#metrics?.observeRequest(model, String(version), arm, context.protocol, outcome, elapsedNs / 1e9);
    if (this.#requestLog === undefined && payload === undefined) return;
    // Every field written, absent ones as undefined (the logger leaves them out): objects of one
    // shape, built without spreads, which profiled at ~16 µs per request under load.
    const entry: RequestLogEntry = {
      requestId: context.requestId || undefined,
      traceId: context.traceId || undefined,
      model,
      version: String(version),
      arm,
      protocol: context.protocol,
      outcome,
      latencyMs: elapsedNs / 1e6,
      queueMs: details.queueMs,
      batchSize: details.batchSize,
      error: details.error,
    };
    this.#requestLog?.(entry);
    if (payload) {
      this.#payloadLog!.offer({
        time: new Date(),
        requestId: entry.requestId,
        traceId: entry.traceId,
        model,
        version: entry.version,
        arm,
        protocol: entry.protocol,
        outcome,
        latencyMs: entry.latencyMs,
        error: entry.error,
        inputs: payload.inputs,
        outputs: payload.outputs,
      });
    }
  }

  /**
   * Sends a copy of the request to the shadow version. Its answer is never returned; the promise
   * settles with its outputs and latency, or undefined when it failed.
   */
  #mirror(request: InferenceRequest, shadow: ModelVersionEntry): Promise<{ outputs: Tensor[]; ms: number } | undefined> {
    const copy: InferenceRequest = { ...request, inputs: request.inputs.map(copyTensor) };
    const started = process.hrtime.bigint();
    return (async () => {
      try {
        const validated = validateRequest(copy, shadow.config);
        const result = await shadow.scheduler!.enqueue({ inputs: validated.inputs, outputNames: validated.outputNames, batchSize: validated.batchSize });
        return { outputs: result.outputs, ms: Number(process.hrtime.bigint() - started) / 1e6 };
      } catch {
        return undefined;
      }
    })();
  }

  #compareMirror(model: string, version: number, mirror: Promise<{ outputs: Tensor[]; ms: number } | undefined>, live: Tensor[], liveMs: number): void {
    const releases = this.#releases!;
    void mirror.then((shadow) => {
      if (!shadow) releases.observeShadow(model, version, 'failed', 0);
      else releases.observeShadow(model, version, outputsAgree(live, shadow.outputs) ? 'agreed' : 'disagreed', shadow.ms - liveMs);
    });
  }

  /** A version string as a number: digits as Triton reads them, else an alias of the registry. */
  #versionNumber(entry: ModelEntry, version: string | undefined): number | undefined {
    if (version === undefined || version === '' || /^[0-9]/.test(version)) return parseVersion(entry.name, version);
    const number = this.#releases?.alias(entry, version);
    if (number === undefined) throw unknownVersionName(entry.name, version);
    return number;
  }

  #model(name: string): ModelEntry {
    const entry = this.#repository.model(name);
    if (!entry) throw unknownModelError(name);
    return entry;
  }
}

/** Sticky keys and match rules read headers (or gRPC metadata) and request parameters. */
function routeKey(request: InferenceRequest, context: RequestContext): RouteKey {
  return {
    header: (name) => context.header?.(name),
    parameter: (name) => {
      const value = request.parameters?.[name];
      return value === undefined ? undefined : String(value);
    },
  };
}

function copyTensor(tensor: Tensor): Tensor {
  const data = tensor.data;
  return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: Array.isArray(data) ? [...data] : data.slice() };
}

function shouldServe(model: ModelEntry): boolean {
  // A model never asked for (explicit mode) or unloaded on purpose does not hold readiness back.
  if (model.state === 'UNKNOWN') return false;
  return !(model.versions.length > 0 && model.versions.every((v) => v.reason === 'unloaded'));
}

function tensorMetadata(spec: TensorConfig, batching: boolean): TensorMetadata {
  return {
    name: spec.name,
    datatype: datatypeFromConfig(spec.data_type) as Datatype,
    shape: batching ? [-1, ...spec.dims] : [...spec.dims],
  };
}

function withReason(entry: RepositoryIndexEntry, reason: string): RepositoryIndexEntry {
  if (reason) entry.reason = reason;
  return entry;
}

function missingConfig(name: string, entry: ModelEntry): never {
  throw mpError('MP_ERR_MODEL_NO_VERSIONS', `Request for unknown model: '${name}' has no available versions${entry.reason ? `: ${entry.reason}` : ''}`);
}

function numberParameter(parameters: NonNullable<InferenceRequest['parameters']>, key: string): number | undefined {
  const value = parameters[key];
  if (value === undefined) return undefined;
  const number = typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < 0 || !Number.isInteger(number)) {
    throw mpError('MP_ERR_REQUEST_PARAMETER', `request parameter '${key}' must be a non-negative integer, got ${JSON.stringify(String(value))}`);
  }
  return number;
}

/**
 * Triton's request priority: 0 means the model's default level, 1 is the highest; levels exist
 * only when the configuration sets priority_levels (otherwise the parameter is ignored, as Triton does).
 */
function priorityLevel(requested: number | undefined, config: ModelConfig): number | undefined {
  const levels = config.dynamic_batching?.priority_levels ?? 0;
  if (levels <= 0 || requested === undefined) return undefined;
  const fallback = config.dynamic_batching?.default_priority_level ?? levels;
  return requested === 0 ? fallback : Math.min(requested, levels);
}
