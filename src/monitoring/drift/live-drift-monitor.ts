/**
 * Drift detection over served requests. Each watched model has one reference — a profile file
 * written by `modelport profile`, or a profile built from the model's first N live rows — and each
 * of its versions gets its own windows of live rows, closed by count (default 500 rows) or by time
 * (`windowMs`, once the window holds `minWindowRows`), whichever comes first. A closed window is
 * tested against the reference with the detector's rules (window-evaluation.ts), the latest report
 * per model and version is kept for the report endpoint and the metrics, and `onReport` is called.
 *
 * The request path only copies: a request's feature values go straight into the version's
 * row-major Float64Array window buffer (typed-array `set` per run of features, found through a
 * layout resolved once per request shape; `capture`, for inputs that move to a worker thread during
 * inference, stages them in one small array per request first). Testing a window costs ~10–20 ms for 500 rows × 256 features, too long for
 * one event-loop turn while requests wait, so tests run as a queue of generators that yield after
 * each feature and are resumed by setImmediate in slices of at most `sliceMs`. Each version has two
 * window buffers: one filling while the other is tested; when both are busy, the filling window
 * is dropped and counted rather than allocating without bound.
 *
 * Rows, not requests, are counted everywhere (windows, `baselineRequests`): a request with a batch
 * of k items adds k rows, which is what the statistics see. Outputs are compared (Jensen–Shannon)
 * only for the version the reference was built from, unless `compareOutputs` says otherwise,
 * because a different version is expected to answer differently.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { silentLogger, type Logger, type Tensor } from '../../core/index.js';
import type { DriftReport, DriftThresholds } from './drift-detector.js';
import { profileFeature, type FeatureProfile, type ReferenceProfile } from './reference-profile.js';
import { copyRows, featureNames, isProfiledDatatype, layoutFits, layoutRows, resolveLayout, tensorRowShape, type FeatureLayout } from './tensor-features.js';
import { evaluateWindow } from './window-evaluation.js';

/** Where a model's reference comes from. */
export type DriftReference = { profile: ReferenceProfile } | { baselineRequests: number };

export interface LiveDriftMonitorOptions {
  /** Per model (a model name, or "*" for every other model, baseline only): its reference. */
  models: Record<string, DriftReference> | ReadonlyMap<string, DriftReference>;
  /** Rows per window; a window closes when it holds this many (default 500). */
  windowRows?: number;
  /** A window also closes this long after its first row, if it holds at least `minWindowRows`. */
  windowMs?: number;
  /** Fewest rows a time-closed (or flushed) window is tested with (default min(100, windowRows)). */
  minWindowRows?: number;
  thresholds?: Partial<DriftThresholds>;
  /** Which versions' outputs are compared with the reference's outputs (default "same-version"). */
  compareOutputs?: 'same-version' | 'always' | 'never';
  /** Called with every window's report; exceptions are logged and ignored. */
  onReport?: (report: LiveDriftReport) => void;
  /**
   * Share of requests recorded (default 1). Testing costs ~30 µs of CPU per recorded row at 256
   * features, off the request path but on the same thread; at high request rates a sample keeps
   * that in proportion while windows still fill quickly.
   */
  sampleRate?: number;
  /** Models with more input or output features than this are not watched (default 4096). */
  maxFeatures?: number;
  /** Longest stretch of testing per event-loop turn, in milliseconds (default 2). */
  sliceMs?: number;
  /** Poll time windows on an unref'd timer (default true when `windowMs` is set). */
  timer?: boolean;
  now?: () => number;
  logger?: Logger;
}

export interface LiveDriftReport extends DriftReport {
  reference: { source: 'file' | 'baseline'; version: string; rows: number; createdAt: string };
  window: {
    /** 1 for a version's first window. */
    index: number;
    rows: number;
    /** Rows whose outputs were compared (0 when outputs are not compared for this version). */
    outputRows: number;
    startedAt: string;
    endedAt: string;
    closedBy: 'count' | 'time' | 'flush';
  };
  evaluatedAt: string;
  /** CPU time the tests took, summed over their slices, in milliseconds. */
  computeMs: number;
}

export type DriftPhase = 'baseline' | 'building' | 'monitoring' | 'disabled';

/** One model's state, as the report endpoint shows it. */
export interface DriftModelStatus {
  model: string;
  phase: DriftPhase;
  /** Why the model is disabled. */
  reason?: string;
  reference?: LiveDriftReport['reference'];
  /** While the baseline fills: rows so far and rows wanted. */
  baseline?: { rows: number; target: number };
  versions: DriftVersionStatus[];
}

export interface DriftVersionStatus {
  version: string;
  /** Rows in the window now filling. */
  windowFill: number;
  windows: number;
  droppedWindows: number;
  unmatchedRequests: number;
  latest?: LiveDriftReport;
}

/** Values captured from a request's inputs before they move to a worker; `commit` once it succeeded. */
export interface DriftCapture {
  commit(outputs?: readonly Tensor[]): void;
}

export interface DriftMetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

/** What `registerMetrics` needs: the shape of `Metrics.addCollected`. */
export interface CollectedMetricsSink {
  addCollected(name: string, help: string, type: 'counter' | 'gauge', read: () => Array<{ labels: Record<string, string>; value: number }>): void;
}

const MIN_PROFILE_ROWS = 100;
/** Request shapes remembered per model (distinct tensor names/widths seen). */
const LAYOUT_CACHE = 8;

type Copier = (first: number, count: number, target: Float64Array, targetRow: number) => void;

interface LayoutEntry {
  layout: FeatureLayout | undefined;
  reason: string | undefined;
  /** Tensors the entry was resolved for (names and widths; for entries that did not resolve). */
  names: string[];
  widths: number[];
}

class WindowBuffer {
  readonly inputs: Float64Array;
  readonly outputs: Float64Array | undefined;
  rows = 0;
  outputRows = 0;
  startedAt = 0;

  constructor(capacity: number, inputFeatures: number, outputFeatures: number) {
    this.inputs = new Float64Array(capacity * inputFeatures);
    this.outputs = outputFeatures > 0 ? new Float64Array(capacity * outputFeatures) : undefined;
  }
}

interface Track {
  model: string;
  version: string;
  current: WindowBuffer | undefined;
  free: WindowBuffer[];
  /** Window buffers allocated for this version (at most two). */
  allocated: number;
  windows: number;
  dropped: number;
  unmatched: number;
  latest: LiveDriftReport | undefined;
}

interface Baseline {
  target: number;
  version: string;
  inputs: Float64Array | undefined;
  outputs: Float64Array | undefined;
  rows: number;
  outputRows: number;
}

interface ModelState {
  name: string;
  source: 'file' | 'baseline';
  phase: DriftPhase;
  reason: string | undefined;
  profile: ReferenceProfile | undefined;
  /** Feature names, known from the profile, or from the first request for a baseline. */
  inputNames: string[] | undefined;
  outputNames: string[] | undefined;
  /** The version the reference (and its outputs) describes. */
  referenceVersion: string | undefined;
  baseline: Baseline | undefined;
  inputLayouts: LayoutEntry[];
  outputLayouts: LayoutEntry[];
  warnedPositional: boolean;
  tracks: Map<string, Track>;
}

interface Job {
  run: Generator<void, void, void>;
  computeMs: number;
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${what} must be a positive integer, got ${value}`);
  return value;
}

/** Checks a profile read from JSON enough that the tests will not trip over it. */
export function validateProfile(profile: unknown, where = 'profile'): ReferenceProfile {
  const p = profile as Partial<ReferenceProfile> | null;
  if (p === null || typeof p !== 'object' || !Array.isArray(p.inputs) || !Array.isArray(p.outputs ?? [])) {
    throw new Error(`${where}: not a reference profile (expected inputs and outputs arrays, as written by modelport profile)`);
  }
  const check = (feature: FeatureProfile, i: number, role: string) => {
    const bad = (why: string) => new Error(`${where}: ${role} feature ${i} (${String(feature?.name)}) ${why}`);
    if (feature === null || typeof feature !== 'object' || typeof feature.name !== 'string') throw bad('has no name');
    if (feature.kind === 'numeric') {
      if (!Array.isArray(feature.edges) || !Array.isArray(feature.proportions) || feature.proportions.length !== feature.edges.length + 1) throw bad('has bins that do not match its edges');
      if (!Array.isArray(feature.sample) || feature.sample.length === 0 || !feature.sample.every(Number.isFinite)) throw bad('has no usable reference sample');
      // The KS walk relies on the sample's order.
      if (feature.sample.some((v, k) => k > 0 && v < feature.sample[k - 1]!)) throw bad('has a reference sample out of order');
    } else if (feature.kind === 'categorical') {
      if (!Array.isArray(feature.categories) || !Array.isArray(feature.frequencies) || feature.categories.length !== feature.frequencies.length) throw bad('has categories that do not match its frequencies');
    } else throw bad(`has an unknown kind '${String((feature as { kind?: unknown }).kind)}'`);
  };
  if (p.inputs.length === 0) throw new Error(`${where}: the profile has no input features`);
  p.inputs.forEach((f, i) => check(f, i, 'input'));
  (p.outputs ?? []).forEach((f, i) => check(f, i, 'output'));
  return { model: String(p.model ?? ''), version: String(p.version ?? ''), createdAt: String(p.createdAt ?? ''), rows: Number(p.rows ?? 0), inputs: p.inputs, outputs: p.outputs ?? [] };
}

function parseProfile(file: string, read: () => string): ReferenceProfile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(read());
  } catch (error) {
    throw new Error(`drift profile ${file}: ${(error as Error).message}`);
  }
  return validateProfile(parsed, `drift profile ${file}`);
}

/** Reads and checks a profile file written by `modelport profile`. */
export async function readReferenceProfile(file: string): Promise<ReferenceProfile> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`drift profile ${file}: ${(error as Error).message}`);
  }
  return parseProfile(file, () => text);
}

/** The same, synchronously, for start-up code that builds everything in a constructor. */
export function readReferenceProfileSync(file: string): ReferenceProfile {
  return parseProfile(file, () => readFileSync(file, 'utf8'));
}

export class LiveDriftMonitor {
  readonly #references: ReadonlyMap<string, DriftReference>;
  readonly #models = new Map<string, ModelState>();
  readonly #windowRows: number;
  readonly #windowMs: number | undefined;
  readonly #minWindowRows: number;
  readonly #thresholds: Partial<DriftThresholds>;
  readonly #compareOutputs: 'same-version' | 'always' | 'never';
  readonly #onReport: ((report: LiveDriftReport) => void) | undefined;
  readonly #maxFeatures: number;
  readonly #sampleRate: number;
  readonly #sliceMs: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  readonly #queue: Job[] = [];
  #scheduled = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: LiveDriftMonitorOptions) {
    this.#references = options.models instanceof Map ? new Map(options.models) : new Map(Object.entries(options.models));
    this.#windowRows = positiveInteger(options.windowRows ?? 500, 'windowRows');
    if (options.windowMs !== undefined && !(options.windowMs > 0)) throw new Error(`windowMs must be positive, got ${options.windowMs}`);
    this.#windowMs = options.windowMs;
    this.#minWindowRows = Math.min(this.#windowRows, positiveInteger(options.minWindowRows ?? Math.min(100, this.#windowRows), 'minWindowRows'));
    this.#thresholds = options.thresholds ?? {};
    this.#compareOutputs = options.compareOutputs ?? 'same-version';
    this.#onReport = options.onReport;
    this.#maxFeatures = positiveInteger(options.maxFeatures ?? 4096, 'maxFeatures');
    this.#sampleRate = options.sampleRate ?? 1;
    if (!(this.#sampleRate > 0 && this.#sampleRate <= 1)) throw new Error(`sampleRate must be in (0, 1], got ${options.sampleRate}`);
    this.#sliceMs = options.sliceMs ?? 2;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    for (const [model, reference] of this.#references) {
      if ('profile' in reference) {
        if (model === '*') throw new Error('drift: "*" takes a baseline, not a profile (a profile describes one model)');
        const profile = validateProfile(reference.profile, `drift profile of ${model}`);
        const features = Math.max(profile.inputs.length, profile.outputs.length);
        if (features > this.#maxFeatures) throw new Error(`drift profile of ${model}: ${features} features, more than maxFeatures (${this.#maxFeatures})`);
        this.#models.set(model, this.#newState(model, 'file', profile));
      } else {
        const n = positiveInteger(reference.baselineRequests, `drift baseline of ${model}`);
        if (n < MIN_PROFILE_ROWS) throw new Error(`drift baseline of ${model}: at least ${MIN_PROFILE_ROWS} rows are needed for a reference, got ${n}`);
        // Named models are listed from the start; "*" adds each other model at its first request.
        if (model !== '*') this.#models.set(model, this.#baselineState(model, n));
      }
    }
    if (this.#windowMs !== undefined && (options.timer ?? true)) {
      this.#timer = setInterval(() => this.poll(), Math.min(this.#windowMs, 1000));
      this.#timer.unref();
    }
  }

  /** Whether requests to `model` are watched (a cheap check before capturing). */
  watches(model: string): boolean {
    const state = this.#state(model);
    return state !== undefined && state.phase !== 'disabled';
  }

  /**
   * Records a served request whose tensors are all still readable. On the data plane, where
   * inputs may move to a worker thread during inference, use `capture` before and `commit` after.
   */
  observe(model: string, version: string, inputs: readonly Tensor[], outputs: readonly Tensor[] = []): void {
    const prepared = this.#prepare(model, version, inputs);
    if (!prepared) return;
    const { state, layout, rows } = prepared;
    this.#commit(state, version, rows, (first, count, target, targetRow) => copyRows(layout, inputs, first, count, target, targetRow), outputs);
  }

  /**
   * Copies what the monitor needs from `inputs` now (a Float64Array of rows × features), for a
   * request whose inputs will not be readable after inference. Undefined when the model is not
   * watched or the inputs do not fit its reference.
   */
  capture(model: string, version: string, inputs: readonly Tensor[]): DriftCapture | undefined {
    const prepared = this.#prepare(model, version, inputs);
    if (!prepared) return undefined;
    const { state, layout, rows } = prepared;
    const features = layout.features;
    const staged = new Float64Array(rows * features);
    copyRows(layout, inputs, 0, rows, staged, 0);
    let committed = false;
    return {
      commit: (outputs: readonly Tensor[] = []) => {
        if (committed) return;
        committed = true;
        this.#commit(state, version, rows, (first, count, target, targetRow) => target.set(staged.subarray(first * features, (first + count) * features), targetRow * features), outputs);
      },
    };
  }

  /** Closes the time windows that are due; the timer calls it, tests with an injected clock call it. */
  poll(): void {
    const now = this.#now();
    for (const state of this.#models.values()) {
      for (const track of state.tracks.values()) this.#closeIfDue(state, track, now);
    }
  }

  /** Tests every window holding at least `minWindowRows` now, and resolves when all tests are done. */
  flush(): Promise<void> {
    for (const state of this.#models.values()) {
      for (const track of state.tracks.values()) {
        if (track.current && track.current.rows >= this.#minWindowRows) this.#close(state, track, 'flush', this.#now());
      }
    }
    return this.idle();
  }

  /** Resolves when no test or profile build is queued or running. */
  idle(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops the timer and waits for queued tests. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.idle();
  }

  /** Forgets a version's (or a whole model's) windows and reports, e.g. when it is unloaded. */
  forget(model: string, version?: string): void {
    const state = this.#models.get(model);
    if (!state) return;
    if (version === undefined) state.tracks.clear();
    else state.tracks.delete(version);
  }

  /** The latest report of each version (of `model`, or of every model), by model then version. */
  latest(model?: string): LiveDriftReport[] {
    return this.#tracks(model).flatMap((entry) => (entry.track.latest ? [entry.track.latest] : []));
  }

  /** Where each watched model (or just `model`) and its versions stand, for the report endpoint. */
  status(model?: string): DriftModelStatus[] {
    const states = model === undefined ? [...this.#models.values()] : [this.#models.get(model)].filter((s): s is ModelState => s !== undefined);
    return states
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((state) => {
        const status: DriftModelStatus = { model: state.name, phase: state.phase, versions: [] };
        if (state.reason !== undefined) status.reason = state.reason;
        const reference = this.#referenceOf(state);
        if (reference) status.reference = reference;
        if (state.baseline) status.baseline = { rows: state.baseline.rows, target: state.baseline.target };
        status.versions = sortedTracks(state).map((track) => {
          const version: DriftVersionStatus = {
            version: track.version,
            windowFill: track.current?.rows ?? 0,
            windows: track.windows,
            droppedWindows: track.dropped,
            unmatchedRequests: track.unmatched,
          };
          if (track.latest) version.latest = track.latest;
          return version;
        });
        return status;
      });
  }

  /**
   * Metric samples. `modelport_drift_score` is, by `method`: "ks" the Kolmogorov–Smirnov D,
   * "psi" the population stability index over the reference deciles, "chi-squared" the χ²
   * statistic, "jensen-shannon" the JS distance (outputs) — each grows with drift. P-values (KS,
   * χ²) are in `modelport_drift_p_value`; `modelport_drift_detected` is the per-feature verdict
   * after the Bonferroni correction.
   */
  metrics(): DriftMetricFamily[] {
    return METRIC_FAMILIES.map((family) => ({ ...family, samples: this.#samples(family.name) }));
  }

  /** Registers each family with a registry that reads at scrape time (`Metrics.addCollected`). */
  registerMetrics(sink: CollectedMetricsSink): void {
    for (const family of METRIC_FAMILIES) sink.addCollected(family.name, family.help, family.type, () => this.#samples(family.name));
  }

  #samples(name: string): DriftMetricFamily['samples'] {
    const samples: DriftMetricFamily['samples'] = [];
    for (const { track } of this.#tracks()) {
      const base = { model: track.model, version: track.version };
      const report = track.latest;
      switch (name) {
        case 'modelport_drift_windows_total':
          samples.push({ labels: base, value: track.windows });
          break;
        case 'modelport_drift_windows_dropped_total':
          samples.push({ labels: base, value: track.dropped });
          break;
        case 'modelport_drift_unmatched_requests_total':
          samples.push({ labels: base, value: track.unmatched });
          break;
        case 'modelport_drift_dataset_detected':
          if (report) samples.push({ labels: base, value: report.datasetDrift ? 1 : 0 });
          break;
        case 'modelport_drift_drifted_share':
          if (report) samples.push({ labels: base, value: report.driftedShare });
          break;
        default:
          if (!report) break;
          for (const f of [...report.inputs, ...report.outputs]) {
            const labels = { ...base, feature: f.name };
            if (name === 'modelport_drift_detected') samples.push({ labels, value: f.drifted ? 1 : 0 });
            else if (name === 'modelport_drift_p_value') {
              if (f.pValue !== undefined) samples.push({ labels: { ...labels, method: f.method }, value: f.pValue });
            } else if (name === 'modelport_drift_score') {
              samples.push({ labels: { ...labels, method: f.method }, value: f.score });
              if (f.psi !== undefined) samples.push({ labels: { ...labels, method: 'psi' }, value: f.psi });
            }
          }
      }
    }
    return samples;
  }

  #tracks(model?: string): Array<{ state: ModelState; track: Track }> {
    const states = model === undefined ? [...this.#models.values()] : [this.#models.get(model)].filter((s): s is ModelState => s !== undefined);
    return states.sort((a, b) => a.name.localeCompare(b.name)).flatMap((state) => sortedTracks(state).map((track) => ({ state, track })));
  }

  #referenceOf(state: ModelState): LiveDriftReport['reference'] | undefined {
    const profile = state.profile;
    if (!profile) return undefined;
    return { source: state.source, version: profile.version, rows: profile.rows, createdAt: profile.createdAt };
  }

  #newState(name: string, source: 'file' | 'baseline', profile?: ReferenceProfile): ModelState {
    return {
      name,
      source,
      phase: profile ? 'monitoring' : 'baseline',
      reason: undefined,
      profile,
      inputNames: profile?.inputs.map((f) => f.name),
      outputNames: profile?.outputs.map((f) => f.name),
      referenceVersion: profile?.version,
      baseline: undefined,
      inputLayouts: [],
      outputLayouts: [],
      warnedPositional: false,
      tracks: new Map(),
    };
  }

  #state(model: string): ModelState | undefined {
    let state = this.#models.get(model);
    if (state) return state;
    const reference = this.#references.get('*');
    if (!reference || 'profile' in reference) return undefined;
    state = this.#baselineState(model, reference.baselineRequests);
    this.#models.set(model, state);
    return state;
  }

  #baselineState(model: string, target: number): ModelState {
    const state = this.#newState(model, 'baseline');
    state.baseline = { target, version: '', inputs: undefined, outputs: undefined, rows: 0, outputRows: 0 };
    return state;
  }

  #track(state: ModelState, version: string): Track {
    let track = state.tracks.get(version);
    if (!track) {
      track = { model: state.name, version, current: undefined, free: [], allocated: 0, windows: 0, dropped: 0, unmatched: 0, latest: undefined };
      state.tracks.set(version, track);
    }
    return track;
  }

  #disable(state: ModelState, reason: string): void {
    state.phase = 'disabled';
    state.reason = reason;
    state.baseline = undefined;
    for (const track of state.tracks.values()) {
      track.current = undefined;
      track.free = [];
    }
    this.#logger.warn({ model: state.name, reason }, 'drift monitoring disabled for this model');
  }

  /** The layout of these tensors for `names`, from the cache or resolved (and cached) now. */
  #layout(state: ModelState, cache: LayoutEntry[], names: readonly string[], tensors: readonly Tensor[]): LayoutEntry {
    for (const entry of cache) {
      if (entry.layout ? layoutFits(entry.layout, tensors) : sameShapes(entry, tensors)) return entry;
    }
    const resolved = resolveLayout(names, tensors);
    const entry: LayoutEntry =
      typeof resolved === 'string'
        ? { layout: undefined, reason: resolved, names: tensors.map((t) => t.name), widths: tensors.map((t) => tensorRowShape(t.shape).width) }
        : { layout: resolved, reason: undefined, names: [], widths: [] };
    if (entry.layout?.positional && !state.warnedPositional) {
      state.warnedPositional = true;
      this.#logger.warn({ model: state.name }, 'drift: feature names do not match the request tensors; features are matched by position');
    }
    if (entry.reason !== undefined) this.#logger.warn({ model: state.name, reason: entry.reason }, 'drift: request tensors do not fit the reference; such requests are skipped');
    cache.unshift(entry);
    if (cache.length > LAYOUT_CACHE) cache.pop();
    return entry;
  }

  #prepare(model: string, version: string, inputs: readonly Tensor[]): { state: ModelState; layout: FeatureLayout; rows: number } | undefined {
    const state = this.#state(model);
    if (!state || state.phase === 'disabled') return undefined;
    if (this.#sampleRate < 1 && Math.random() >= this.#sampleRate) return undefined;
    if (!state.inputNames) {
      // A baseline's features are those of its first request's numeric inputs.
      const names = inputs.filter((t) => isProfiledDatatype(t.datatype)).flatMap((t) => featureNames(t.name, tensorRowShape(t.shape).width));
      if (names.length === 0) return void this.#disable(state, 'the inputs have no numeric tensor');
      if (names.length > this.#maxFeatures) return void this.#disable(state, `${names.length} input features, more than maxFeatures (${this.#maxFeatures})`);
      state.inputNames = names;
    }
    const entry = this.#layout(state, state.inputLayouts, state.inputNames, inputs);
    const rows = entry.layout ? layoutRows(entry.layout, inputs) : -1;
    if (!entry.layout || rows <= 0) {
      this.#track(state, version).unmatched += 1;
      return undefined;
    }
    return { state, layout: entry.layout, rows };
  }

  /** Output layout for this request, or undefined when its outputs are not recorded. */
  #outputLayout(state: ModelState, version: string, outputs: readonly Tensor[], rows: number): FeatureLayout | undefined {
    if (outputs.length === 0 || !this.#comparesOutputs(state, version)) return undefined;
    const entry = this.#layout(state, state.outputLayouts, state.outputNames!, outputs);
    return entry.layout && layoutRows(entry.layout, outputs) === rows ? entry.layout : undefined;
  }

  #comparesOutputs(state: ModelState, version: string): boolean {
    if (this.#compareOutputs === 'never' || !state.outputNames || state.outputNames.length === 0) return false;
    return this.#compareOutputs === 'always' || state.referenceVersion === version;
  }

  #commit(state: ModelState, version: string, rows: number, copy: Copier, outputs: readonly Tensor[]): void {
    if (state.phase === 'disabled') return;
    let first = 0;
    const baseline = state.baseline;
    if (baseline && baseline.rows < baseline.target) {
      if (baseline.rows === 0) this.#startBaseline(state, baseline, version, outputs);
      const take = Math.min(rows, baseline.target - baseline.rows);
      copy(0, take, baseline.inputs!, baseline.rows);
      if (baseline.outputs && version === baseline.version) {
        const layout = this.#outputLayout(state, version, outputs, rows);
        if (layout) {
          copyRows(layout, outputs, 0, take, baseline.outputs, baseline.outputRows);
          baseline.outputRows += take;
        }
      }
      baseline.rows += take;
      first = take;
      if (baseline.rows === baseline.target) {
        state.phase = 'building';
        this.#enqueue(() => this.#buildBaseline(state, baseline));
      }
      if (first === rows) {
        this.#track(state, version);
        return;
      }
    }
    const track = this.#track(state, version);
    const outputLayout = this.#outputLayout(state, version, outputs, rows);
    const now = this.#now();
    while (first < rows) {
      this.#closeIfDue(state, track, now);
      const window = track.current ?? this.#takeBuffer(state, track);
      if (window.rows === 0) window.startedAt = now;
      const take = Math.min(rows - first, this.#windowRows - window.rows);
      copy(first, take, window.inputs, window.rows);
      if (outputLayout && window.outputs) {
        copyRows(outputLayout, outputs, first, take, window.outputs, window.outputRows);
        window.outputRows += take;
      }
      window.rows += take;
      first += take;
      if (window.rows === this.#windowRows) this.#close(state, track, 'count', now);
    }
  }

  #startBaseline(state: ModelState, baseline: Baseline, version: string, outputs: readonly Tensor[]): void {
    baseline.version = version;
    state.referenceVersion = version;
    const outputNames = outputs.filter((t) => isProfiledDatatype(t.datatype)).flatMap((t) => featureNames(t.name, tensorRowShape(t.shape).width));
    state.outputNames = outputNames.length <= this.#maxFeatures ? outputNames : [];
    baseline.inputs = new Float64Array(baseline.target * state.inputNames!.length);
    if (state.outputNames.length > 0 && this.#compareOutputs !== 'never') baseline.outputs = new Float64Array(baseline.target * state.outputNames.length);
  }

  #takeBuffer(state: ModelState, track: Track): WindowBuffer {
    let buffer = track.free.pop();
    if (!buffer) {
      buffer = new WindowBuffer(this.#windowRows, state.inputNames!.length, this.#comparesOutputs(state, track.version) ? state.outputNames!.length : 0);
      track.allocated += 1;
    }
    buffer.rows = 0;
    buffer.outputRows = 0;
    track.current = buffer;
    return buffer;
  }

  #closeIfDue(state: ModelState, track: Track, now: number): void {
    const window = track.current;
    if (this.#windowMs === undefined || !window || window.rows < this.#minWindowRows) return;
    if (now - window.startedAt >= this.#windowMs) this.#close(state, track, 'time', now);
  }

  /** Hands the filling window to a test, or drops it when both buffers are still being tested. */
  #close(state: ModelState, track: Track, closedBy: LiveDriftReport['window']['closedBy'], now: number): void {
    const window = track.current!;
    if (track.free.length === 0 && track.allocated >= 2) {
      track.dropped += 1;
      window.rows = 0;
      window.outputRows = 0;
      return;
    }
    track.current = undefined;
    track.windows += 1;
    const index = track.windows;
    this.#enqueue((job) => this.#evaluate(job, state, track, window, index, closedBy, now));
  }

  *#evaluate(job: Job, state: ModelState, track: Track, window: WindowBuffer, index: number, closedBy: LiveDriftReport['window']['closedBy'], endedAt: number): Generator<void, void, void> {
    try {
      const profile = state.profile;
      if (!profile || state.phase === 'disabled') return;
      const inputs = { values: window.inputs, rows: window.rows, features: profile.inputs.length };
      const outputs = window.outputs && window.outputRows > 0 ? { values: window.outputs, rows: window.outputRows, features: profile.outputs.length } : undefined;
      const result = yield* evaluateWindow(profile, inputs, outputs, this.#thresholds);
      const report: LiveDriftReport = {
        ...result,
        model: track.model,
        version: track.version,
        reference: this.#referenceOf(state)!,
        window: {
          index,
          rows: window.rows,
          outputRows: outputs?.rows ?? 0,
          startedAt: new Date(window.startedAt).toISOString(),
          endedAt: new Date(endedAt).toISOString(),
          closedBy,
        },
        evaluatedAt: new Date(this.#now()).toISOString(),
        computeMs: Math.round(job.computeMs * 1000) / 1000,
      };
      // A forgotten version's late report is not brought back.
      if (state.tracks.get(track.version) === track) track.latest = report;
      this.#logger.debug(
        { model: track.model, version: track.version, window: index, datasetDrift: report.datasetDrift, driftedShare: report.driftedShare, computeMs: report.computeMs },
        'drift window tested',
      );
      try {
        this.#onReport?.(report);
      } catch (error) {
        this.#logger.error({ model: track.model, err: error }, 'drift onReport failed');
      }
    } finally {
      track.free.push(window);
    }
  }

  /** Profiles the baseline rows one feature per step, with the function `modelport profile` uses. */
  *#buildBaseline(state: ModelState, baseline: Baseline): Generator<void, void, void> {
    const values: number[] = [];
    const profileColumns = function* (data: Float64Array, rows: number, names: readonly string[]): Generator<void, FeatureProfile[] | string, void> {
      const features: FeatureProfile[] = [];
      for (let j = 0; j < names.length; j++) {
        values.length = 0;
        for (let i = 0, at = j; i < rows; i++, at += names.length) {
          const v = data[at]!;
          if (Number.isFinite(v)) values.push(v);
        }
        if (values.length < 2) return `feature ${names[j]} has fewer than 2 finite values in the baseline`;
        features.push(profileFeature(names[j]!, values));
        yield;
      }
      return features;
    };
    const inputs = yield* profileColumns(baseline.inputs!, baseline.rows, state.inputNames!);
    if (typeof inputs === 'string') return void this.#disable(state, inputs);
    let outputs: FeatureProfile[] = [];
    if (baseline.outputs && baseline.outputRows >= MIN_PROFILE_ROWS) {
      const built = yield* profileColumns(baseline.outputs, baseline.outputRows, state.outputNames!);
      if (typeof built === 'string') this.#logger.warn({ model: state.name, reason: built }, 'drift: outputs left out of the reference');
      else outputs = built;
    }
    // Without an output reference, windows stop buffering outputs.
    if (outputs.length === 0) state.outputNames = [];
    state.profile = { model: state.name, version: baseline.version, createdAt: new Date(this.#now()).toISOString(), rows: baseline.rows, inputs, outputs };
    state.baseline = undefined;
    state.phase = 'monitoring';
    this.#logger.info({ model: state.name, version: baseline.version, rows: baseline.rows, inputs: inputs.length, outputs: outputs.length }, 'drift reference built from live requests');
  }

  /** Queues a generator of work; it receives its job to read the time spent on it so far. */
  #enqueue(start: (job: Job) => Generator<void, void, void>): void {
    const job: Job = { run: undefined!, computeMs: 0 };
    job.run = start(job);
    this.#queue.push(job);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => this.#runSlice());
  }

  /** Runs queued work for at most `sliceMs`, then yields the event loop to requests. */
  #runSlice(): void {
    this.#scheduled = false;
    const sliceStart = performance.now();
    while (this.#queue.length > 0) {
      const job = this.#queue[0]!;
      const stepStart = performance.now();
      let done: boolean;
      try {
        done = job.run.next().done === true;
      } catch (error) {
        this.#logger.error({ err: error }, 'drift test failed');
        done = true;
      }
      const stepEnd = performance.now();
      job.computeMs += stepEnd - stepStart;
      if (done) this.#queue.shift();
      if (stepEnd - sliceStart >= this.#sliceMs) break;
    }
    if (this.#queue.length > 0) this.#schedule();
    else {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

function sortedTracks(state: ModelState): Track[] {
  return [...state.tracks.values()].sort((a, b) => a.version.localeCompare(b.version, undefined, { numeric: true }));
}

function sameShapes(entry: LayoutEntry, tensors: readonly Tensor[]): boolean {
  if (entry.names.length !== tensors.length) return false;
  for (let i = 0; i < tensors.length; i++) {
    if (entry.names[i] !== tensors[i]!.name || entry.widths[i] !== tensorRowShape(tensors[i]!.shape).width) return false;
  }
  return true;
}

const METRIC_FAMILIES: ReadonlyArray<Omit<DriftMetricFamily, 'samples'>> = [
  {
    name: 'modelport_drift_score',
    help: 'Drift statistic of a feature in the latest window, by method: ks = Kolmogorov-Smirnov D, psi = population stability index over reference deciles, chi-squared = chi-squared statistic, jensen-shannon = JS distance (outputs); higher means more drift',
    type: 'gauge',
  },
  { name: 'modelport_drift_p_value', help: 'P-value of the latest window test of a feature (ks, chi-squared); lower means more drift', type: 'gauge' },
  { name: 'modelport_drift_detected', help: 'Whether a feature drifted in the latest window (1) or not (0), after the Bonferroni correction', type: 'gauge' },
  { name: 'modelport_drift_dataset_detected', help: 'Whether the latest window drifted as a whole: the share of drifted input features reached the dataset threshold', type: 'gauge' },
  { name: 'modelport_drift_drifted_share', help: 'Share of input features that drifted in the latest window', type: 'gauge' },
  { name: 'modelport_drift_windows_total', help: 'Windows of live rows tested against the reference', type: 'counter' },
  { name: 'modelport_drift_windows_dropped_total', help: 'Windows dropped untested because the previous ones were still being tested', type: 'counter' },
  { name: 'modelport_drift_unmatched_requests_total', help: 'Requests whose tensors did not fit the drift reference and were not recorded', type: 'counter' },
];
