/**
 * The registry's vocabulary: immutable model versions with their digests and lineage, aliases that
 * point at versions, the routing of a model's traffic between versions, progressive rollouts and
 * the append-only audit log. Plain data, shared by the store (repository/), the release logic
 * (rollout/), the management API and the CLI.
 */
import type { ModelSignature } from './signature.js';

/** One immutable, registered version of a model. */
export interface VersionRecord {
  model: string;
  version: number;
  /** "sha256:<64 hex>" of the model file. */
  digest: string;
  /** Size of the model file in bytes. */
  size: number;
  /** ISO 8601. */
  createdAt: string;
  createdBy: string;
  /** Free-form lineage: where the artifact came from (a path, a pipeline, "folder import"). */
  source: string;
  runId: string;
  description: string;
  tags: Record<string, string>;
  signature?: ModelSignature;
}

export interface AliasRecord {
  model: string;
  alias: string;
  version: number;
  updatedAt: string;
  updatedBy: string;
}

/** One arm of a split: a version and its share of the traffic in percent. */
export interface RouteArm {
  /** "stable", "canary", "b"…: reported with every response the arm serves. */
  name: string;
  version: number;
  /** Percent of traffic, 0–100; the arms' weights sum to 100. */
  weight: number;
}

/** A request whose header or parameter equals a value goes to the named arm, whatever the weights. */
export interface RouteRule {
  header?: string;
  parameter?: string;
  equals: string;
  arm: string;
}

/** Where a model's requests that name no version go. */
export interface RoutingSpec {
  /** Seed of the sticky hash: keys keep their arm while it stays the same (one per rollout). */
  seed: string;
  /** Exactly one arm is named "stable". */
  arms: RouteArm[];
  /** Sticky assignment: requests with the same key always land on the same arm. */
  sticky?: { header?: string; parameter?: string };
  rules?: RouteRule[];
  /** A mirror: this share of requests is also sent to `version`; its answers are compared, never returned. */
  shadow?: { version: number; percent: number };
}

export interface RoutingRecord {
  model: string;
  spec: RoutingSpec;
  /** Increases by one on every change: writers compare-and-set on it. */
  revision: number;
  updatedAt: string;
  updatedBy: string;
}

export type RolloutStatus = 'running' | 'paused' | 'succeeded' | 'rolled_back' | 'aborted';

export interface RolloutPolicy {
  /** Canary weights in percent, ascending, the last one 100. */
  steps: number[];
  intervalMs: number;
  /** Largest share of failed canary requests in an interval (0.01 = 1%). */
  maxErrorRate: number;
  /** Largest canary p99 latency in milliseconds, when set. */
  maxP99Ms?: number;
  /** Largest canary p99 relative to the stable arm's in the same interval (2 = twice as slow). */
  maxLatencyRatio: number;
  /** Fewest canary requests an interval needs before it can pass. */
  minRequests: number;
  /**
   * Largest Jensen–Shannon distance between the canary's and the stable arm's distribution of any
   * output element in a step (0.1 is the drift alert threshold); unset = outputs are not compared.
   */
  maxOutputDrift?: number;
}

export interface RolloutRecord {
  id: string;
  model: string;
  /** Version that served before the rollout. */
  from: number;
  /** Version being rolled out. */
  to: number;
  policy: RolloutPolicy;
  status: RolloutStatus;
  /** Index into policy.steps of the weight the canary has now. */
  step: number;
  stepStartedAt: string;
  startedAt: string;
  updatedAt: string;
  /** Why it ended or paused (a breach, an operator's abort…). */
  reason: string;
  /** Compare-and-set counter, as for routing. */
  revision: number;
}

/** Counts of one arm in one rollout step, as one server process saw them. */
export interface ArmSample {
  rolloutId: string;
  step: number;
  /** Server process that counted them. */
  replica: string;
  arm: string;
  requests: number;
  errors: number;
  /** Request counts per latency bucket (upper bounds in LATENCY_BUCKETS_MS, plus one overflow bucket). */
  latencyBuckets: number[];
}

/** One change, as the audit log keeps it: who, when, what, from → to, why. */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  model: string;
  /** "version.register", "alias.set", "routing.set", "rollout.start", "rollout.rollback"… */
  action: string;
  from: string;
  to: string;
  reason: string;
  /** Anything else worth keeping (the routing spec after the change, step figures…). */
  details?: Record<string, unknown>;
}

export type AuditInput = Omit<AuditEntry, 'id' | 'at'> & { at?: string };

/** Names the registry keeps for itself: `latest` and `v<digits>` cannot be aliases. */
export function isReservedAlias(name: string): boolean {
  return name === 'latest' || /^v[0-9]+$/.test(name);
}

/** Model, alias and arm names: a single path segment of safe characters. */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Upper bounds (ms) of the latency buckets arm samples count in; a last bucket takes the rest.
 * Fine enough for a p99 within one bucket; shared so samples from every replica merge.
 */
export const LATENCY_BUCKETS_MS = [1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000] as const;
