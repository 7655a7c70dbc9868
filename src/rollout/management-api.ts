/**
 * What the management API (REST /v1/ and the CLI through it) can ask of the release manager:
 * versions and uploads, aliases, routing with dry-run diffs, progressive rollouts, rollback and
 * the audit log. Protocol-neutral: failures are ModelportErrors with catalogue codes.
 */
import type { Readable } from 'node:stream';
import type {
  AliasRecord,
  AuditEntry,
  RolloutPolicy,
  RolloutRecord,
  RoutingRecord,
  RoutingSpec,
  VersionRecord,
} from '../core/index.js';

/** Who asks, for the audit log. */
export interface Actor {
  name: string;
}

export interface PublishRequest {
  model: string;
  /** The ONNX file, streamed. */
  body: Readable;
  /** "sha256:<hex>" the client computed; the upload is refused when the file's differs. */
  digest?: string;
  alias?: string;
  description?: string;
  source?: string;
  runId?: string;
  tags?: Record<string, string>;
}

/** A version as the API shows it: the record plus whether and how it is serving now. */
export interface VersionView extends VersionRecord {
  state: string;
  aliases: string[];
  /** Arms it serves in the current routing ("stable", "canary", "shadow"). */
  arms: string[];
}

export interface ShadowSummary {
  version: number;
  mirrored: number;
  /** Mirrored requests whose outputs matched the live ones (within tolerance). */
  agreed: number;
  disagreed: number;
  /** Mirrored requests the shadow failed (the live answer was returned regardless). */
  failed: number;
  /** Mean of (shadow − live) latency in ms. */
  latencyDeltaMs: number;
}

export interface ArmSummary {
  arm: string;
  version: number;
  weight: number;
  requests: number;
  errors: number;
  p99Ms: number | null;
}

export interface RoutingView {
  model: string;
  /** Undefined when the model has no routing yet: requests go to the highest READY version. */
  routing?: RoutingRecord;
  /** Counts since this process applied the routing. */
  arms: ArmSummary[];
  shadow?: ShadowSummary;
}

export interface RoutingChange {
  dryRun: boolean;
  before?: RoutingSpec;
  after: RoutingSpec;
  /** Human-readable lines: "arm canary: version 2, weight 10 → 50". */
  diff: string[];
  /** The stored record, when not a dry run. */
  routing?: RoutingRecord;
}

export interface RolloutStartRequest {
  model: string;
  to: number | string;
  policy?: Partial<RolloutPolicy>;
}

export interface RolloutView extends RolloutRecord {
  /** The current step's weight and the figures the last analysis saw. */
  weight: number;
  lastAnalysis?: { at: string; verdict: string; canary: ArmSummary; stable: ArmSummary };
}

export interface RollbackRequest {
  model: string;
  /** A version number or alias; default the version that served before the current one. */
  to?: number | string;
  /** Roll back to what served at this time (ISO 8601). */
  at?: string;
  reason?: string;
}

export interface ModelSummary {
  name: string;
  versions: VersionView[];
  aliases: AliasRecord[];
  routing?: RoutingRecord;
  rollout?: RolloutView;
}

export interface ManagementApi {
  listModels(): Promise<ModelSummary[]>;
  model(name: string): Promise<ModelSummary>;
  listVersions(model: string): Promise<VersionView[]>;
  version(model: string, version: number | string): Promise<VersionView>;
  /** Streams, checks and registers a new version; never changes what serves (unless `alias` is serving). */
  publish(request: PublishRequest, actor: Actor): Promise<VersionView>;
  deleteVersion(model: string, version: number, actor: Actor): Promise<void>;

  listAliases(model: string): Promise<AliasRecord[]>;
  setAlias(model: string, alias: string, version: number | string, actor: Actor): Promise<AliasRecord>;
  deleteAlias(model: string, alias: string, actor: Actor): Promise<void>;

  routing(model: string): Promise<RoutingView>;
  /** Validates, loads and warms every version the spec needs, then switches (unless dryRun). */
  setRouting(model: string, spec: Omit<RoutingSpec, 'seed'> & { seed?: string }, options: { dryRun: boolean; reason?: string }, actor: Actor): Promise<RoutingChange>;

  startRollout(request: RolloutStartRequest, actor: Actor): Promise<RolloutView>;
  rollout(model: string): Promise<RolloutView | undefined>;
  listRollouts(model: string): Promise<RolloutView[]>;
  pauseRollout(model: string, actor: Actor, reason?: string): Promise<RolloutView>;
  resumeRollout(model: string, actor: Actor): Promise<RolloutView>;
  /** Jumps to 100% on the candidate now. */
  promoteRollout(model: string, actor: Actor, reason?: string): Promise<RolloutView>;
  abortRollout(model: string, actor: Actor, reason?: string): Promise<RolloutView>;

  rollback(request: RollbackRequest, actor: Actor): Promise<RoutingRecord>;

  audit(query: { model?: string; limit?: number; until?: string }): Promise<AuditEntry[]>;
}
