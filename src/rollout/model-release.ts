/**
 * What one server process holds in memory about one model's releases: the routing it applied and
 * its traffic split, aliases, the active rollout, versions kept warm after they stopped serving,
 * and the per-arm and shadow counts the rollout analysis and the routing view read. The release
 * manager owns one per model and replaces fields as the registry changes.
 */
import type { RolloutRecord, RoutingRecord, Tensor } from '../core/index.js';
import { ArmCounters } from './arm-window.js';
import type { ShadowSummary } from './management-api.js';
import { ArmOutputSample } from './output-drift.js';
import { routingVersions } from './routing-spec.js';
import type { ShadowOutcome } from './serving-router.js';
import { TrafficSplit } from './traffic-split.js';

export class ModelRelease {
  routing: RoutingRecord | undefined;
  split: TrafficSplit | undefined;
  readonly aliases = new Map<string, number>();
  rollout: RolloutRecord | undefined;
  /** Versions that served recently, kept loaded until the time (ms since epoch) for instant rollback. */
  readonly warm = new Map<number, number>();
  /** Versions a change in progress needs loaded before it is stored. */
  readonly pending = new Set<number>();
  /** Pinned versions when last checked: one that drops out is unloaded unless the policy keeps it. */
  lastPinned = new Set<number>();
  /** Requests per arm since the routing was applied. */
  readonly totals = new ArmCounters();
  /** Requests per arm in the rollout's current step; `stepKey` says which. */
  step = new ArmCounters();
  /** Outputs per arm in the current step, kept only when the rollout compares them. */
  stepOutputs = new Map<string, ArmOutputSample>();
  stepKey = '';
  shadow: ShadowSummary | undefined;
  lastAnalysis: { at: string; verdict: string; reason: string; figures: Record<string, number | null> } | undefined;

  constructor(readonly model: string) {}

  applyRouting(record: RoutingRecord | undefined, now: number, warmWindowMs: number): void {
    const before = this.routing ? routingVersions(this.routing.spec) : [];
    this.routing = record;
    this.split = record ? new TrafficSplit(record.spec) : undefined;
    const after = new Set(record ? routingVersions(record.spec) : []);
    for (const version of before) if (!after.has(version)) this.warm.set(version, now + warmWindowMs);
    for (const version of after) this.warm.delete(version);
    this.totals.reset();
    const shadow = record?.spec.shadow;
    if (!shadow) this.shadow = undefined;
    else if (this.shadow?.version !== shadow.version) this.shadow = { version: shadow.version, mirrored: 0, agreed: 0, disagreed: 0, failed: 0, latencyDeltaMs: 0 };
  }

  applyRollout(record: RolloutRecord | undefined): void {
    this.rollout = record && (record.status === 'running' || record.status === 'paused') ? record : undefined;
    const key = this.rollout ? `${this.rollout.id}:${this.rollout.step}` : '';
    if (key !== this.stepKey) {
      this.stepKey = key;
      this.step = new ArmCounters();
      this.stepOutputs = new Map();
    }
  }

  /** Versions that must stay loaded: routing arms and shadow, aliases, warm ones, pending changes. */
  pinned(now: number): number[] {
    const pinned = new Set<number>(this.pending);
    if (this.routing) for (const v of routingVersions(this.routing.spec)) pinned.add(v);
    for (const v of this.aliases.values()) pinned.add(v);
    for (const [v, until] of this.warm) {
      if (until > now) pinned.add(v);
      else this.warm.delete(v);
    }
    return [...pinned];
  }

  /** Earliest time a warm version expires, for the timer that unloads it. */
  nextWarmExpiry(): number | undefined {
    let next: number | undefined;
    for (const until of this.warm.values()) if (next === undefined || until < next) next = until;
    return next;
  }

  observe(arm: string, ok: boolean, latencyMs: number, outputs?: readonly Tensor[]): void {
    this.totals.record(arm, ok, latencyMs);
    const rollout = this.rollout;
    if (rollout?.status !== 'running') return;
    this.step.record(arm, ok, latencyMs);
    if (outputs && rollout.policy.maxOutputDrift !== undefined && (arm === 'stable' || arm === 'canary')) {
      let sample = this.stepOutputs.get(arm);
      if (!sample) this.stepOutputs.set(arm, (sample = new ArmOutputSample()));
      sample.record(outputs);
    }
  }

  observeShadow(version: number, outcome: ShadowOutcome, latencyDeltaMs: number): void {
    const shadow = this.shadow;
    if (!shadow || shadow.version !== version) return;
    shadow.mirrored++;
    shadow[outcome]++;
    // Running mean: no unbounded sums.
    shadow.latencyDeltaMs += (latencyDeltaMs - shadow.latencyDeltaMs) / shadow.mirrored;
  }
}
