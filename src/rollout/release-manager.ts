/**
 * Release management: the registry (versions, aliases, audit) on top of a RegistryStore, the
 * routing of each model's traffic between versions, progressive rollouts judged per interval and
 * rolled back on a breach, and rollback in one call. It is also the data plane's ServingRouter.
 *
 * Switching is never lossy: every version a change needs is loaded and warmed (repository
 * reconcile) before the change is stored and applied; versions that stop serving stay loaded for
 * a warm window, so rolling back inside it is instant, and unload only after draining.
 *
 * Several server processes may share one store (Postgres). Each follows the audit log (every
 * change writes an entry) and applies routing, aliases and rollouts it did not make; each
 * process's per-arm counts go to the store, and whichever process judges an interval first wins
 * the compare-and-set that moves the rollout on — the others follow.
 */
import { randomUUID } from 'node:crypto';
import {
  mpError,
  silentLogger,
  type AliasRecord,
  type AuditEntry,
  type AuditInput,
  type Logger,
  type RolloutRecord,
  type RoutingRecord,
  type RoutingSpec,
  type Tensor,
  type VersionRecord,
} from '../core/index.js';
import { type ArtifactPublisher, type ModelEntry, type ModelVersionEntry, type PinnedVersions, type RegistryStore, type ReleasableRepository } from '../repository/index.js';
import { mergeSamples } from './arm-window.js';
import type {
  Actor,
  ManagementApi,
  ModelSummary,
  PublishRequest,
  RollbackRequest,
  RolloutStartRequest,
  RolloutView,
  RoutingChange,
  RoutingView,
  VersionView,
} from './management-api.js';
import { importFolderVersions } from './folder-import.js';
import { ModelRelease } from './model-release.js';
import { judgeInterval, validateRolloutPolicy, type Judgement } from './rollout-judge.js';
import { compareOutputs, MIN_OUTPUT_ROWS } from './output-drift.js';
import { armSummary, canarySpec, checkAlias, checkName, rolloutAudit, rolloutState, routingAudit, ROUTING_ACTIONS, servingVersion, unknownVersion, unknownVersionName } from './release-rules.js';
import { describeRoutingDiff, routingVersions, singleVersionRouting, stableArm, validateRoutingSpec } from './routing-spec.js';
import type { RouteDecision, RouteKey, ServingRouter, ShadowOutcome } from './serving-router.js';
import { parseVersion, VersionRouter } from './version-router.js';

/** Something that happened to a release that operators want to hear about. */
export interface ReleaseEvent {
  type: 'rollout.started' | 'rollout.step' | 'rollout.succeeded' | 'rollout.rolled_back' | 'rollout.aborted' | 'rollback' | 'routing.set';
  model: string;
  at: string;
  rolloutId?: string;
  from?: number;
  to?: number;
  reason?: string;
  details?: Record<string, unknown>;
}

export interface ReleaseManagerOptions {
  /** The store, or how to open it (on open()). */
  store: RegistryStore | (() => Promise<RegistryStore>);
  repository: ReleasableRepository;
  publisher: ArtifactPublisher;
  logger?: Logger;
  /** Names this process in per-arm samples (default: a random id). */
  replicaId?: string;
  /** How often the store is checked for changes made elsewhere (default 1 s; 0 = never). */
  syncIntervalMs?: number;
  /** How often running rollouts are analysed (default 1 s). */
  tickMs?: number;
  /** How long a version that stopped serving stays loaded (default 5 minutes). */
  warmWindowMs?: number;
  onEvent?: (event: ReleaseEvent) => void;
  now?: () => number;
}

const ZERO_ARM = { requests: 0, errors: 0, latencyBuckets: [] as number[] };

export class ReleaseManager implements ManagementApi, ServingRouter {
  readonly #openStore: () => Promise<RegistryStore>;
  #opened: RegistryStore | undefined;
  readonly #repository: ReleasableRepository;
  readonly #publisher: ArtifactPublisher;
  readonly #logger: Logger;
  readonly #replica: string;
  readonly #syncIntervalMs: number;
  readonly #tickMs: number;
  readonly #warmWindowMs: number;
  readonly #onEvent: ReleaseManagerOptions['onEvent'];
  readonly #now: () => number;
  readonly #fallback = new VersionRouter();
  readonly #models = new Map<string, ModelRelease>();
  readonly #tails = new Map<string, Promise<unknown>>();
  #lastAuditId = 0;
  #syncTimer: ReturnType<typeof setInterval> | undefined;
  #tickTimer: ReturnType<typeof setInterval> | undefined;
  #warmTimer: ReturnType<typeof setTimeout> | undefined;
  #busy: Promise<void> | undefined;
  #closed = false;

  constructor(options: ReleaseManagerOptions) {
    const store = options.store;
    this.#openStore = typeof store === 'function' ? store : async () => store;
    this.#repository = options.repository;
    this.#publisher = options.publisher;
    this.#logger = options.logger ?? silentLogger;
    this.#replica = options.replicaId ?? randomUUID();
    this.#syncIntervalMs = options.syncIntervalMs ?? 1000;
    this.#tickMs = options.tickMs ?? 1000;
    this.#warmWindowMs = options.warmWindowMs ?? 300_000;
    this.#onEvent = options.onEvent;
    this.#now = options.now ?? Date.now;
  }

  /** The versions a model needs loaded besides its version policy's: the repository asks on each load. */
  pinnedVersions(model: string): PinnedVersions {
    const release = this.#models.get(model);
    if (!release) return { versions: [], replacePolicy: false };
    const pinned = release.pinned(this.#now());
    // What the repository loads because of a pin is what must be unloaded when the pin goes.
    for (const v of pinned) release.lastPinned.add(v);
    // Once the registry routes a model, registering a version must not load it: the pins decide alone.
    return { versions: pinned, replacePolicy: release.routing !== undefined };
  }

  /** Reads routing, aliases and rollouts from the store: before the repository starts, so it loads what they need. */
  async open(): Promise<void> {
    this.#opened = await this.#openStore();
    this.#lastAuditId = await this.#store().lastAuditId();
    await this.#loadAll();
  }

  /** After the repository started: registers folder versions, loads what routing needs, starts following. */
  async start(): Promise<void> {
    await importFolderVersions(this.#store(), this.#repository, this.#logger, this.#now);
    for (const release of this.#models.values()) {
      const missing = release.pinned(this.#now()).filter((v) => !this.#ready(release.model, v));
      if (missing.length > 0) {
        const error = await this.#repository.reconcile(release.model);
        if (error) this.#logger.error({ model: release.model, error: error.message }, `model '${release.model}': ${error.message}`);
      }
    }
    if (this.#syncIntervalMs > 0) {
      this.#syncTimer = setInterval(() => this.#background(() => this.sync()), this.#syncIntervalMs);
      this.#syncTimer.unref();
    }
    this.#tickTimer = setInterval(() => this.#background(() => this.tick()), this.#tickMs);
    this.#tickTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#syncTimer);
    clearInterval(this.#tickTimer);
    clearTimeout(this.#warmTimer);
    await this.#busy;
    await Promise.allSettled([...this.#tails.values()]);
    await this.#opened?.close();
  }

  /** Runs background work one piece at a time; a failure is logged, never thrown. */
  #background(work: () => Promise<void>): void {
    if (this.#busy || this.#closed) return;
    this.#busy = work()
      .catch((error: unknown) => this.#logger.error({ error: (error as Error).message }, `release background work failed: ${(error as Error).message}`))
      .finally(() => {
        this.#busy = undefined;
      });
  }

  // ---- serving (hot path) -------------------------------------------------------------------

  route(entry: ModelEntry, version: string | undefined, key: RouteKey): RouteDecision {
    if (version !== undefined && version !== '') {
      if (/^[0-9]+$/.test(version)) return { version: this.#fallback.serving(entry, parseVersion(entry.name, version)), arm: 'direct' };
      if (version === 'latest') return { version: this.#fallback.serving(entry, undefined), arm: 'latest' };
      const target = this.#models.get(entry.name)?.aliases.get(version);
      if (target === undefined) throw unknownVersionName(entry.name, version);
      return { version: this.#fallback.serving(entry, target), arm: `alias:${version}` };
    }
    const release = this.#models.get(entry.name);
    const split = release?.split;
    if (!split) return { version: this.#fallback.serving(entry, undefined), arm: 'stable' };
    const arm = split.pick(key);
    let served = readyVersion(entry, arm.version);
    let armName = arm.name;
    if (!served) {
      // Not loaded here yet (another replica changed routing a moment ago): the stable arm answers.
      const stable = stableArm(release.routing!.spec);
      served = readyVersion(entry, stable.version) ?? this.#fallback.serving(entry, undefined);
      armName = 'stable';
    }
    const decision: RouteDecision = { version: served, arm: armName };
    const shadow = release.routing!.spec.shadow;
    if (shadow && split.shadowSample()) {
      const mirror = readyVersion(entry, shadow.version);
      if (mirror) decision.shadow = mirror;
    }
    return decision;
  }

  alias(entry: ModelEntry, name: string): number | undefined {
    if (name === 'latest') return entry.versions.filter((v) => v.state === 'READY').at(-1)?.version;
    return this.#models.get(entry.name)?.aliases.get(name);
  }

  observe(model: string, arm: string, ok: boolean, latencyMs: number, outputs?: readonly Tensor[]): void {
    this.#models.get(model)?.observe(arm, ok, latencyMs, outputs);
  }

  observeShadow(model: string, version: number, outcome: ShadowOutcome, latencyDeltaMs: number): void {
    this.#models.get(model)?.observeShadow(version, outcome, latencyDeltaMs);
  }

  /** Per model, what the metrics endpoint reports: routing weights, shadow counts, rollout progress. */
  releaseMetrics(): Array<{ model: string; arms: Array<{ arm: string; version: number; weight: number }>; shadow?: { version: number; agreed: number; disagreed: number; failed: number }; rollout?: { to: number; step: number; weight: number } }> {
    const out = [];
    for (const release of this.#models.values()) {
      const routing = release.routing;
      if (!routing) continue;
      const item: ReturnType<ReleaseManager['releaseMetrics']>[number] = { model: release.model, arms: routing.spec.arms.map((a) => ({ arm: a.name, version: a.version, weight: a.weight })) };
      if (release.shadow) item.shadow = { version: release.shadow.version, agreed: release.shadow.agreed, disagreed: release.shadow.disagreed, failed: release.shadow.failed };
      const rollout = release.rollout;
      if (rollout) item.rollout = { to: rollout.to, step: rollout.step, weight: rollout.policy.steps[rollout.step]! };
      out.push(item);
    }
    return out;
  }

  // ---- versions -------------------------------------------------------------------------------

  async listModels(): Promise<ModelSummary[]> {
    const names = new Set<string>(this.#repository.models().map((m) => m.name));
    for (const v of await this.#store().listVersions()) names.add(v.model);
    return Promise.all([...names].sort().map((name) => this.model(name)));
  }

  async model(name: string): Promise<ModelSummary> {
    const versions = await this.listVersions(name);
    const aliases = await this.#store().listAliases(name);
    const routing = await this.#store().getRouting(name);
    const rollout = await this.rollout(name);
    const summary: ModelSummary = { name, versions, aliases };
    if (routing) summary.routing = routing;
    if (rollout) summary.rollout = rollout;
    return summary;
  }

  async listVersions(model: string): Promise<VersionView[]> {
    checkName('model', model);
    const records = await this.#store().listVersions(model);
    if (records.length === 0 && !this.#repository.model(model)) throw mpError('MP_ERR_MODEL_UNKNOWN', `model '${model}' has no registered versions and no folder in the model repository`);
    const aliases = await this.#store().listAliases(model);
    const routing = this.#models.get(model)?.routing?.spec;
    return records.map((r) => this.#view(r, aliases, routing));
  }

  async version(model: string, version: number | string): Promise<VersionView> {
    const number = await this.#resolveVersion(model, version);
    const record = await this.#store().getVersion(model, number);
    if (!record) throw unknownVersion(model, number);
    return this.#view(record, await this.#store().listAliases(model), this.#models.get(model)?.routing?.spec);
  }

  #view(record: VersionRecord, aliases: AliasRecord[], routing: RoutingSpec | undefined): VersionView {
    const entry = this.#repository.model(record.model)?.versions.find((v) => v.version === record.version);
    const arms = routing ? routing.arms.filter((a) => a.version === record.version).map((a) => a.name) : [];
    if (routing?.shadow?.version === record.version) arms.push('shadow');
    return {
      ...record,
      state: entry?.state ?? 'UNAVAILABLE',
      aliases: aliases.filter((a) => a.version === record.version).map((a) => a.alias),
      arms,
    };
  }

  async publish(request: PublishRequest, actor: Actor): Promise<VersionView> {
    const { model } = request;
    checkName('model', model);
    if (request.alias !== undefined) checkAlias(request.alias);
    const staged = await this.#publisher.stage(model, request.body, request.digest === undefined ? {} : { expectedDigest: request.digest });
    let committed = false;
    try {
      return await this.#serialize(model, async () => {
        await this.#pinBeforeRegistering(model, actor);
        const onDisk = await this.#repository.versionFolders(model);
        const version = Math.max(await this.#store().latestVersion(model), onDisk.at(-1) ?? 0) + 1;
        await this.#publisher.commit(staged, version);
        committed = true;
        const record: VersionRecord = {
          model,
          version,
          digest: staged.digest,
          size: staged.size,
          createdAt: new Date(this.#now()).toISOString(),
          createdBy: actor.name,
          source: request.source ?? 'upload',
          runId: request.runId ?? '',
          description: request.description ?? '',
          tags: request.tags ?? {},
          signature: staged.signature,
        };
        await this.#store().insertVersion(record, { actor: actor.name, model, action: 'version.register', from: '', to: String(version), reason: request.description ?? '', details: { digest: staged.digest, size: staged.size } });
        this.#logger.info({ model, version, digest: staged.digest, size: staged.size }, `registered model '${model}' version ${version}`);
        if (request.alias !== undefined) await this.#setAlias(model, request.alias, version, actor);
        return this.#view(record, await this.#store().listAliases(model), this.#models.get(model)?.routing?.spec);
      });
    } finally {
      if (!committed) await this.#publisher.discard(staged);
    }
  }

  /**
   * A model served by "highest READY version" would switch to a new version as soon as it loads;
   * registering must not change what serves, so the version serving now is pinned as stable first.
   */
  async #pinBeforeRegistering(model: string, actor: Actor): Promise<void> {
    if (this.#release(model).routing || (await this.#store().getRouting(model))) return;
    const entry = this.#repository.model(model);
    const serving = entry?.versions.filter((v) => v.state === 'READY').at(-1);
    if (!serving) return;
    const spec = singleVersionRouting(serving.version);
    const record = await this.#store().putRouting(model, spec, 0, actor.name, routingAudit(actor, model, undefined, spec, 'routing.pin', 'pinned the serving version before registering a new one'));
    if (record) this.#release(model).applyRouting(record, this.#now(), this.#warmWindowMs);
  }

  async deleteVersion(model: string, version: number, actor: Actor): Promise<void> {
    checkName('model', model);
    await this.#serialize(model, async () => {
      const release = this.#release(model);
      if (release.warm.has(version)) {
        throw mpError('MP_ERR_REGISTRY_IN_USE', `model '${model}' version ${version} served until recently and is kept for rollback; retry after the warm window or roll back`);
      }
      await this.#store().deleteVersion(model, version, { actor: actor.name, model, action: 'version.delete', from: String(version), to: '', reason: '' });
      await this.#publisher.retire(model, version);
      await this.#repository.reconcile(model);
    });
  }

  // ---- aliases --------------------------------------------------------------------------------

  async listAliases(model: string): Promise<AliasRecord[]> {
    checkName('model', model);
    return this.#store().listAliases(model);
  }

  async setAlias(model: string, alias: string, version: number | string, actor: Actor): Promise<AliasRecord> {
    checkName('model', model);
    checkAlias(alias);
    return this.#serialize(model, async () => this.#setAlias(model, alias, await this.#resolveVersion(model, version), actor));
  }

  async #setAlias(model: string, alias: string, version: number, actor: Actor): Promise<AliasRecord> {
    if (!(await this.#store().getVersion(model, version))) throw unknownVersion(model, version);
    // Callable in inference as soon as it exists: load and warm the target first.
    await this.#ensureLoaded(model, [version]);
    const before = (await this.#store().listAliases(model)).find((a) => a.alias === alias);
    const record: AliasRecord = { model, alias, version, updatedAt: new Date(this.#now()).toISOString(), updatedBy: actor.name };
    await this.#store().setAlias(record, { actor: actor.name, model, action: 'alias.set', from: before ? `${alias}=${before.version}` : '', to: `${alias}=${version}`, reason: '' });
    this.#release(model).aliases.set(alias, version);
    this.#scheduleWarmExpiry();
    return record;
  }

  async deleteAlias(model: string, alias: string, actor: Actor): Promise<void> {
    checkName('model', model);
    await this.#serialize(model, async () => {
      const before = (await this.#store().listAliases(model)).find((a) => a.alias === alias);
      await this.#store().deleteAlias(model, alias, { actor: actor.name, model, action: 'alias.delete', from: before ? `${alias}=${before.version}` : alias, to: '', reason: '' });
      this.#release(model).aliases.delete(alias);
      if (before) this.#release(model).warm.set(before.version, this.#now() + this.#warmWindowMs);
      this.#scheduleWarmExpiry();
    });
  }

  // ---- routing --------------------------------------------------------------------------------

  async routing(model: string): Promise<RoutingView> {
    checkName('model', model);
    const release = this.#models.get(model);
    const routing = release?.routing ?? (await this.#store().getRouting(model));
    const view: RoutingView = { model, arms: [] };
    if (routing) view.routing = routing;
    const totals = release?.totals.snapshot();
    for (const arm of routing?.spec.arms ?? []) {
      view.arms.push(armSummary(arm.name, arm.version, arm.weight, totals?.get(arm.name)));
    }
    if (release?.shadow) view.shadow = { ...release.shadow };
    return view;
  }

  async setRouting(model: string, input: Omit<RoutingSpec, 'seed'> & { seed?: string }, options: { dryRun: boolean; reason?: string }, actor: Actor): Promise<RoutingChange> {
    checkName('model', model);
    return this.#serialize(model, async () => {
      const current = await this.#store().getRouting(model);
      const registered = new Set((await this.#store().listVersions(model)).map((v) => v.version));
      const raw = (input && typeof input === 'object' ? { ...input } : input) as Record<string, unknown>;
      if (raw && typeof raw === 'object' && raw['seed'] === undefined) raw['seed'] = current?.spec.seed ?? randomUUID();
      const spec = validateRoutingSpec(model, raw, registered);
      const diff = describeRoutingDiff(current?.spec, spec);
      const change: RoutingChange = { dryRun: options.dryRun, after: spec, diff };
      if (current) change.before = current.spec;
      if (options.dryRun) return change;
      const active = await this.#store().activeRollout(model);
      if (active) throw mpError('MP_ERR_ROLLOUT_STATE', `model '${model}' has a ${active.status} rollout to version ${active.to}; promote or abort it before changing the routing by hand`);
      change.routing = await this.#switch(model, spec, current, routingAudit(actor, model, current?.spec, spec, 'routing.set', options.reason ?? ''));
      this.#emit({ type: 'routing.set', model, to: stableArm(spec).version, details: { diff } });
      return change;
    });
  }

  /** Loads and warms what `spec` needs, stores it (compare-and-set) and applies it. */
  async #switch(model: string, spec: RoutingSpec, current: RoutingRecord | undefined, audit: AuditInput): Promise<RoutingRecord> {
    await this.#ensureLoaded(model, routingVersions(spec));
    const record = await this.#store().putRouting(model, spec, current?.revision ?? 0, audit.actor, audit);
    if (!record) throw mpError('MP_ERR_ROUTING_CONFLICT', `the routing of model '${model}' was changed by someone else meanwhile; read it again and retry`);
    this.#applyRouting(model, record);
    return record;
  }

  #applyRouting(model: string, record: RoutingRecord | undefined): void {
    const release = this.#release(model);
    release.applyRouting(record, this.#now(), this.#warmWindowMs);
    this.#scheduleWarmExpiry();
  }

  /**
   * Pins `versions`, has the repository load and warm them, and fails with the reason when one is
   * not READY afterwards — before anything is stored, so traffic never reaches a version that failed.
   */
  async #ensureLoaded(model: string, versions: number[]): Promise<void> {
    const release = this.#release(model);
    const missing = versions.filter((v) => !this.#ready(model, v));
    if (missing.length === 0) return;
    for (const v of missing) release.pending.add(v);
    try {
      await this.#repository.reconcile(model);
      const failed = missing.filter((v) => !this.#ready(model, v));
      if (failed.length > 0) {
        const reasons = failed.map((v) => {
          const entry = this.#repository.model(model)?.versions.find((e) => e.version === v);
          return `version ${v}: ${entry?.reason || 'not loaded'}`;
        });
        // Unpinned again, what failed leaves the model's list, so readiness and the index look
        // exactly as before the attempt.
        for (const v of missing) release.pending.delete(v);
        await this.#repository.reconcile(model);
        throw mpError('MP_ERR_VERSION_LOAD_FAILED', `model '${model}' ${reasons.join('; ')}; nothing was changed and the current versions keep serving`);
      }
    } finally {
      for (const v of missing) release.pending.delete(v);
      // What failed or is no longer wanted is unloaded once the change is settled.
      this.#scheduleWarmExpiry(0);
    }
  }

  #ready(model: string, version: number): boolean {
    return this.#repository.model(model)?.versions.some((v) => v.version === version && v.state === 'READY') ?? false;
  }

  // ---- rollouts -------------------------------------------------------------------------------

  async startRollout(request: RolloutStartRequest, actor: Actor): Promise<RolloutView> {
    const { model } = request;
    checkName('model', model);
    const policy = validateRolloutPolicy(request.policy ?? {});
    return this.#serialize(model, async () => {
      const to = await this.#resolveVersion(model, request.to);
      if (!(await this.#store().getVersion(model, to))) throw unknownVersion(model, to);
      const active = await this.#store().activeRollout(model);
      if (active) throw mpError('MP_ERR_ROLLOUT_STATE', `model '${model}' already has a ${active.status} rollout to version ${active.to} (id ${active.id}); abort or promote it first`);
      let current = await this.#store().getRouting(model);
      const from = current ? stableArm(current.spec).version : this.#repository.model(model)?.versions.filter((v) => v.state === 'READY').at(-1)?.version;
      if (from === undefined) throw mpError('MP_ERR_ROLLOUT_STATE', `model '${model}' has no serving version to roll out from; set its routing first`);
      if (from === to) throw mpError('MP_ERR_ROLLOUT_INVALID', `version ${to} of model '${model}' is already the stable version`);
      if (current && current.spec.arms.length > 1) {
        throw mpError('MP_ERR_ROLLOUT_STATE', `model '${model}' already splits traffic (${current.spec.arms.map((a) => `${a.name}=${a.version}:${a.weight}`).join(', ')}); set a single stable version before a rollout`);
      }
      await this.#ensureLoaded(model, [from, to]);
      if (!current) {
        const pinned = singleVersionRouting(from);
        current = await this.#store().putRouting(model, pinned, 0, actor.name, routingAudit(actor, model, undefined, pinned, 'routing.pin', 'pinned the serving version before a rollout'));
        if (!current) throw mpError('MP_ERR_ROUTING_CONFLICT', `the routing of model '${model}' was changed by someone else meanwhile; retry`);
      }
      const now = new Date(this.#now()).toISOString();
      const id = randomUUID();
      const record: RolloutRecord = { id, model, from, to, policy, status: 'running', step: 0, stepStartedAt: now, startedAt: now, updatedAt: now, reason: '', revision: 0 };
      const spec = canarySpec(current.spec, from, to, policy.steps[0]!, id);
      const stored = await this.#store().putRollout(record, 0, rolloutAudit(actor.name, record, 'rollout.start', `canary at ${policy.steps[0]}%`, spec), { spec, expectedRevision: current.revision });
      if (!stored) throw mpError('MP_ERR_ROUTING_CONFLICT', `the routing or rollout of model '${model}' was changed by someone else meanwhile; retry`);
      await this.#refreshModel(model);
      this.#emit({ type: 'rollout.started', model, rolloutId: id, from, to, details: { policy } });
      return this.#rolloutView(stored);
    });
  }

  async rollout(model: string): Promise<RolloutView | undefined> {
    checkName('model', model);
    const record = await this.#store().activeRollout(model) ?? (await this.#store().listRollouts(model, 1))[0];
    return record && this.#rolloutView(record);
  }

  async listRollouts(model: string): Promise<RolloutView[]> {
    checkName('model', model);
    return (await this.#store().listRollouts(model, 50)).map((r) => this.#rolloutView(r));
  }

  async pauseRollout(model: string, actor: Actor, reason = ''): Promise<RolloutView> {
    return this.#changeRollout(model, actor, (r) => {
      if (r.status !== 'running') throw rolloutState(r, 'pause');
      return { next: { ...r, status: 'paused', reason }, action: 'rollout.pause' };
    });
  }

  async resumeRollout(model: string, actor: Actor): Promise<RolloutView> {
    return this.#changeRollout(model, actor, (r) => {
      if (r.status !== 'paused') throw rolloutState(r, 'resume');
      // The interval starts again: figures from before the pause do not count towards it.
      return { next: { ...r, status: 'running', reason: '', stepStartedAt: new Date(this.#now()).toISOString() }, action: 'rollout.resume' };
    });
  }

  async promoteRollout(model: string, actor: Actor, reason = 'promoted by hand'): Promise<RolloutView> {
    return this.#changeRollout(model, actor, (r, routing) => ({
      next: { ...r, status: 'succeeded', reason },
      action: 'rollout.promote',
      spec: { ...singleVersionRouting(r.to, routing.seed), sticky: routing.sticky, rules: [] },
    }));
  }

  async abortRollout(model: string, actor: Actor, reason = 'aborted by hand'): Promise<RolloutView> {
    return this.#changeRollout(model, actor, (r, routing) => ({
      next: { ...r, status: 'aborted', reason },
      action: 'rollout.aborted',
      spec: { ...singleVersionRouting(r.from, routing.seed), sticky: routing.sticky, rules: [] },
    }));
  }

  async #changeRollout(
    model: string,
    actor: Actor,
    change: (rollout: RolloutRecord, routing: RoutingSpec) => { next: RolloutRecord; action: string; spec?: RoutingSpec },
  ): Promise<RolloutView> {
    checkName('model', model);
    return this.#serialize(model, async () => {
      const rollout = await this.#store().activeRollout(model);
      if (!rollout) throw mpError('MP_ERR_ROLLOUT_UNKNOWN', `model '${model}' has no running or paused rollout`);
      const routing = await this.#store().getRouting(model);
      const { next, action, spec } = change(rollout, routing!.spec);
      const stored = await this.#transition(rollout, { ...next, updatedAt: new Date(this.#now()).toISOString() }, actor.name, action, routing!, spec);
      if (!stored) throw mpError('MP_ERR_ROUTING_CONFLICT', `the rollout of model '${model}' changed meanwhile; read its status again`);
      return this.#rolloutView(stored);
    });
  }

  /** Stores a rollout transition (and the routing it implies) compare-and-set, then applies it here. */
  async #transition(rollout: RolloutRecord, next: RolloutRecord, actor: string, action: string, routing: RoutingRecord, spec?: RoutingSpec): Promise<RolloutRecord | undefined> {
    if (spec) await this.#ensureLoaded(rollout.model, routingVersions(spec));
    const stored = await this.#store().putRollout(next, rollout.revision, rolloutAudit(actor, next, action, next.reason, spec), spec ? { spec, expectedRevision: routing.revision } : undefined);
    if (!stored) return undefined;
    await this.#refreshModel(rollout.model);
    const type = action === 'rollout.promote' ? 'rollout.succeeded' : action;
    if (type === 'rollout.step' || type === 'rollout.succeeded' || type === 'rollout.rolled_back' || type === 'rollout.aborted') {
      this.#emit({ type, model: rollout.model, rolloutId: rollout.id, from: rollout.from, to: rollout.to, reason: next.reason, details: { step: next.step, weight: next.policy.steps[next.step] } });
    }
    return stored;
  }

  #rolloutView(record: RolloutRecord): RolloutView {
    const view: RolloutView = { ...record, weight: record.status === 'succeeded' ? 100 : record.status === 'running' || record.status === 'paused' ? record.policy.steps[record.step]! : 0 };
    const analysis = this.#models.get(record.model)?.lastAnalysis;
    if (analysis && this.#models.get(record.model)?.rollout?.id === record.id) {
      const f = analysis.figures;
      view.lastAnalysis = {
        at: analysis.at,
        verdict: `${analysis.verdict}: ${analysis.reason}`,
        canary: { arm: 'canary', version: record.to, weight: view.weight, requests: f['canaryRequests'] ?? 0, errors: f['canaryErrors'] ?? 0, p99Ms: f['canaryP99Ms'] ?? null },
        stable: { arm: 'stable', version: record.from, weight: 100 - view.weight, requests: f['stableRequests'] ?? 0, errors: f['stableErrors'] ?? 0, p99Ms: f['stableP99Ms'] ?? null },
      };
    }
    return view;
  }

  /**
   * One analysis round over every running rollout: this process's counts go to the store, every
   * process's counts for the step come back, and the verdict moves the rollout on, rolls it back
   * or waits.
   */
  async tick(): Promise<void> {
    for (const release of [...this.#models.values()]) {
      const rollout = release.rollout;
      if (!rollout || rollout.status !== 'running') continue;
      await this.#serialize(release.model, () => this.#analyse(release, rollout));
    }
  }

  async #analyse(release: ModelRelease, rollout: RolloutRecord): Promise<void> {
    if (release.rollout?.id !== rollout.id || release.rollout.revision !== rollout.revision) return;
    for (const [arm, counts] of release.step.snapshot()) {
      if (arm !== 'stable' && arm !== 'canary') continue;
      await this.#store().putArmSample({ rolloutId: rollout.id, step: rollout.step, replica: this.#replica, arm, ...counts });
    }
    const merged = mergeSamples(await this.#store().armSamples(rollout.id, rollout.step));
    const canary = merged.get('canary') ?? ZERO_ARM;
    const stable = merged.get('stable') ?? ZERO_ARM;
    const elapsed = this.#now() - Date.parse(rollout.stepStartedAt) >= rollout.policy.intervalMs;
    const judged = withOutputDrift(judgeInterval({ policy: rollout.policy, canary, stable, intervalElapsed: elapsed }), rollout, release);
    release.lastAnalysis = {
      at: new Date(this.#now()).toISOString(),
      verdict: judged.verdict,
      reason: judged.reason,
      figures: {
        canaryRequests: canary.requests,
        canaryErrors: canary.errors,
        canaryP99Ms: judged.canaryP99Ms,
        stableRequests: stable.requests,
        stableErrors: stable.errors,
        stableP99Ms: judged.stableP99Ms,
      },
    };
    if (judged.verdict === 'wait') return;
    const routing = await this.#store().getRouting(rollout.model);
    if (!routing) return;
    const now = new Date(this.#now()).toISOString();
    const figures = { canary: { requests: canary.requests, errors: canary.errors, p99Ms: judged.canaryP99Ms }, stable: { requests: stable.requests, errors: stable.errors, p99Ms: judged.stableP99Ms } };
    if (judged.verdict === 'breach') {
      const reason = `step ${rollout.step + 1} (${rollout.policy.steps[rollout.step]}%): ${judged.reason}`;
      this.#logger.warn({ model: rollout.model, rollout: rollout.id, from: rollout.to, to: rollout.from, reason, ...figures }, `rollout of model '${rollout.model}' to version ${rollout.to} rolled back: ${reason}`);
      const spec = { ...singleVersionRouting(rollout.from, routing.spec.seed), sticky: routing.spec.sticky, rules: [] };
      await this.#transition(rollout, { ...rollout, status: 'rolled_back', reason, updatedAt: now }, 'modelport', 'rollout.rolled_back', routing, spec);
      return;
    }
    const nextStep = rollout.step + 1;
    if (nextStep >= rollout.policy.steps.length) {
      const spec = { ...singleVersionRouting(rollout.to, routing.spec.seed), sticky: routing.spec.sticky, rules: [] };
      await this.#transition(rollout, { ...rollout, status: 'succeeded', reason: `every step passed; ${judged.reason}`, updatedAt: now }, 'modelport', 'rollout.succeeded', routing, spec);
      this.#logger.info({ model: rollout.model, rollout: rollout.id, version: rollout.to }, `rollout of model '${rollout.model}' to version ${rollout.to} succeeded`);
      return;
    }
    const weight = rollout.policy.steps[nextStep]!;
    const spec = canarySpec(routing.spec, rollout.from, rollout.to, weight, routing.spec.seed);
    const next = { ...rollout, step: nextStep, stepStartedAt: now, updatedAt: now, reason: `step ${rollout.step + 1} passed: ${judged.reason}` };
    await this.#transition(rollout, next, 'modelport', 'rollout.step', routing, spec);
    this.#logger.info({ model: rollout.model, rollout: rollout.id, weight, ...figures }, `rollout of model '${rollout.model}' to version ${rollout.to}: canary at ${weight}%`);
  }

  // ---- rollback and audit ---------------------------------------------------------------------

  async rollback(request: RollbackRequest, actor: Actor): Promise<RoutingRecord> {
    const { model } = request;
    checkName('model', model);
    return this.#serialize(model, async () => {
      const current = await this.#store().getRouting(model);
      const currentStable = current ? servingVersion(current.spec) : undefined;
      const active = await this.#store().activeRollout(model);
      let target: number;
      if (request.to !== undefined) target = await this.#resolveVersion(model, request.to);
      else if (request.at !== undefined) target = await this.#stableAt(model, request.at);
      // In the middle of a rollout, "back" is the version it started from; in a split set by
      // hand, the stable arm.
      else if (active) target = active.from;
      else if (current && current.spec.arms.length > 1) target = stableArm(current.spec).version;
      else target = await this.#previousStable(model, currentStable);
      if (!(await this.#store().getVersion(model, target))) throw unknownVersion(model, target);
      const reason = request.reason ?? `rollback to version ${target}`;
      const spec = { ...singleVersionRouting(target, current?.spec.seed), sticky: current?.spec.sticky, rules: [] };
      if (active && current) {
        const stored = await this.#transition(active, { ...active, status: 'aborted', reason: `rolled back by ${actor.name}: ${reason}`, updatedAt: new Date(this.#now()).toISOString() }, actor.name, 'rollout.aborted', current, spec);
        if (!stored) throw mpError('MP_ERR_ROUTING_CONFLICT', `the rollout of model '${model}' changed meanwhile; retry`);
      } else {
        await this.#switch(model, spec, current, routingAudit(actor, model, current?.spec, spec, 'rollback', reason));
      }
      this.#emit({ type: 'rollback', model, ...(currentStable !== undefined ? { from: currentStable } : {}), to: target, reason });
      return (await this.#store().getRouting(model))!;
    });
  }

  /** The stable version of the routing in force at `at`, from the audit log. */
  async #stableAt(model: string, at: string): Promise<number> {
    const time = Date.parse(at);
    if (Number.isNaN(time)) throw mpError('MP_ERR_ROLLOUT_INVALID', `rollback time '${at}' is not a date; expected ISO 8601 such as 2026-11-29T10:00:00Z`);
    const entries = await this.#store().listAudit({ model, until: new Date(time).toISOString(), limit: 1000 });
    const change = entries.find((e) => ROUTING_ACTIONS.has(e.action) && typeof e.details?.['stable'] === 'number');
    if (!change) throw mpError('MP_ERR_ROLLOUT_INVALID', `model '${model}' had no routing recorded at or before ${at}`);
    return change.details!['stable'] as number;
  }

  /** The last stable version before the current one, from the audit log. */
  async #previousStable(model: string, current: number | undefined): Promise<number> {
    const entries = await this.#store().listAudit({ model, limit: 1000 });
    for (const entry of entries) {
      if (!ROUTING_ACTIONS.has(entry.action)) continue;
      const before = entry.details?.['stableBefore'];
      if (typeof before === 'number' && before !== current) return before;
    }
    throw mpError('MP_ERR_ROLLOUT_INVALID', `model '${model}' has no earlier stable version to roll back to; name the version to roll back to`);
  }

  async audit(query: { model?: string; limit?: number; until?: string }): Promise<AuditEntry[]> {
    if (query.model !== undefined) checkName('model', query.model);
    // Not a date would be compared as text and answer an arbitrary slice of the log.
    if (query.until !== undefined && Number.isNaN(Date.parse(query.until))) {
      throw mpError('MP_ERR_REQUEST_PARAMETER', `audit 'until' '${query.until}' is not a date; expected ISO 8601 such as 2026-11-29T10:00:00Z`);
    }
    return this.#store().listAudit(query);
  }

  // ---- following the store --------------------------------------------------------------------

  /** Applies changes other processes made (every change writes an audit entry). */
  async sync(): Promise<void> {
    const last = await this.#store().lastAuditId();
    if (last === this.#lastAuditId) return;
    await this.#loadAll();
    this.#lastAuditId = last;
  }

  async #loadAll(): Promise<void> {
    const routings = await this.#store().listRouting();
    const aliases = await this.#store().listAliases();
    const models = new Set<string>([...routings.map((r) => r.model), ...aliases.map((a) => a.model), ...this.#models.keys()]);
    for (const model of models) await this.#serialize(model, () => this.#refreshModel(model));
  }

  /** Brings this process's view of one model in line with the store, loading versions first. */
  async #refreshModel(model: string): Promise<void> {
    const release = this.#release(model);
    const [routing, aliases, rollout] = await Promise.all([this.#store().getRouting(model), this.#store().listAliases(model), this.#store().activeRollout(model)]);
    release.aliases.clear();
    for (const a of aliases) release.aliases.set(a.alias, a.version);
    if (routing && routing.revision !== release.routing?.revision) {
      const needed = routingVersions(routing.spec).filter((v) => !this.#ready(model, v));
      if (needed.length > 0 && this.#repository.model(model)) {
        for (const v of needed) release.pending.add(v);
        try {
          await this.#repository.reconcile(model);
        } finally {
          for (const v of needed) release.pending.delete(v);
        }
      }
      this.#applyRouting(model, routing);
    } else if (!routing && release.routing) {
      this.#applyRouting(model, undefined);
    }
    release.applyRollout(rollout);
  }

  // ---- helpers --------------------------------------------------------------------------------

  #store(): RegistryStore {
    if (!this.#opened) throw mpError('MP_ERR_REGISTRY_UNAVAILABLE', 'the registry is not open yet; retry once the server is ready');
    return this.#opened;
  }

  #release(model: string): ModelRelease {
    let release = this.#models.get(model);
    if (!release) {
      release = new ModelRelease(model);
      this.#models.set(model, release);
    }
    return release;
  }

  async #resolveVersion(model: string, version: number | string): Promise<number> {
    if (typeof version === 'number') {
      if (!Number.isSafeInteger(version) || version <= 0) throw mpError('MP_ERR_MODEL_VERSION_INVALID', `version ${version} of model '${model}' is not a positive integer`);
      return version;
    }
    if (/^[0-9]+$/.test(version)) return parseVersion(model, version)!;
    if (/^v[0-9]+$/.test(version)) return parseVersion(model, version.slice(1))!;
    if (version === 'latest') {
      const latest = await this.#store().latestVersion(model);
      if (latest === 0) throw mpError('MP_ERR_MODEL_VERSION_UNKNOWN', `model '${model}' has no registered versions`);
      return latest;
    }
    const alias = (await this.#store().listAliases(model)).find((a) => a.alias === version);
    if (!alias) throw mpError('MP_ERR_REGISTRY_ALIAS_UNKNOWN', `model '${model}' has no version or alias '${version}'; expected a version number or one of its aliases`);
    return alias.version;
  }

  /** Unloads warm versions when their window ends (and anything no longer wanted). */
  #scheduleWarmExpiry(delayMs?: number): void {
    if (this.#closed) return;
    let next: number | undefined;
    for (const release of this.#models.values()) {
      const expiry = release.nextWarmExpiry();
      if (expiry !== undefined && (next === undefined || expiry < next)) next = expiry;
    }
    const delay = delayMs ?? (next === undefined ? undefined : Math.max(0, next - this.#now()) + 10);
    if (delay === undefined) return;
    clearTimeout(this.#warmTimer);
    this.#warmTimer = setTimeout(() => {
      this.#warmTimer = undefined;
      void this.#unloadUnpinned();
    }, delay);
    this.#warmTimer.unref();
  }

  async #unloadUnpinned(): Promise<void> {
    for (const release of [...this.#models.values()]) {
      const pinned = new Set(release.pinned(this.#now()));
      const released = [...release.lastPinned].filter((v) => !pinned.has(v));
      release.lastPinned = pinned;
      const entry = this.#repository.model(release.model);
      if (!entry) continue;
      // Only versions that lost their pin: the version policy may still want them, the repository decides.
      if (released.some((v) => entry.versions.some((e) => e.version === v && e.state === 'READY'))) {
        await this.#serialize(release.model, async () => {
          const error = await this.#repository.reconcile(release.model);
          if (error) this.#logger.warn({ model: release.model, error: error.message }, `model '${release.model}': ${error.message}`);
        });
      }
    }
    this.#scheduleWarmExpiry();
  }

  #emit(event: Omit<ReleaseEvent, 'at'>): void {
    const full: ReleaseEvent = { ...event, at: new Date(this.#now()).toISOString() };
    this.#logger.info({ event: full.type, ...full }, `release event ${full.type} for model '${full.model}'`);
    try {
      this.#onEvent?.(full);
    } catch (error) {
      this.#logger.warn({ error: (error as Error).message }, 'release event handler failed');
    }
  }

  #serialize<T>(model: string, operation: () => Promise<T>): Promise<T> {
    const run = (this.#tails.get(model) ?? Promise.resolve()).then(operation);
    const tail = run.catch(() => undefined);
    this.#tails.set(model, tail);
    void tail.then(() => {
      if (this.#tails.get(model) === tail) this.#tails.delete(model);
    });
    return run;
  }
}

/**
 * The output comparison on top of the counts' verdict: outputs that differ beyond the policy's
 * limit are a breach; a step cannot pass before both arms have enough output rows to compare.
 */
function withOutputDrift(judged: Judgement, rollout: RolloutRecord, release: ModelRelease): Judgement {
  const limit = rollout.policy.maxOutputDrift;
  // At 100% the stable arm gets no traffic to compare with; the earlier steps compared them.
  if (limit === undefined || judged.verdict === 'breach' || rollout.policy.steps[rollout.step]! >= 100) return judged;
  const stable = release.stepOutputs.get('stable');
  const canary = release.stepOutputs.get('canary');
  const drift = stable && canary ? compareOutputs(stable, canary) : undefined;
  if (drift && drift.distance > limit) {
    return { ...judged, verdict: 'breach', reason: `canary outputs differ from the stable arm's: Jensen–Shannon distance ${drift.distance.toFixed(3)} on ${drift.column} exceeds ${limit}` };
  }
  if (judged.verdict === 'pass' && !drift) {
    return { ...judged, verdict: 'wait', reason: `fewer than ${MIN_OUTPUT_ROWS} output rows per arm in this process to compare outputs` };
  }
  return drift ? { ...judged, reason: `${judged.reason}; output drift ${drift.distance.toFixed(3)} (${drift.column}) within ${limit}` } : judged;
}

function readyVersion(entry: ModelEntry, version: number): ModelVersionEntry | undefined {
  for (const v of entry.versions) if (v.version === version && v.state === 'READY' && v.scheduler) return v;
  return undefined;
}
