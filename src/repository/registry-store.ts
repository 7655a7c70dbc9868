/**
 * The registry's storage seam: versions, aliases, routing, rollouts, per-arm samples and the audit
 * log. Two implementations share one schema through one query layer (store/): SQLite beside the
 * repository for one box, Postgres for replicas that share a registry. Every change and its audit
 * entry are written in one transaction; routing and rollouts are compare-and-set on a revision so
 * that replicas racing to change them cannot both win.
 */
import type { ApiKeyStore } from '../security/index.js';
import type { AliasRecord, ArmSample, AuditEntry, AuditInput, RolloutRecord, RoutingRecord, RoutingSpec, VersionRecord } from '../core/index.js';

export interface AuditQuery {
  model?: string;
  /** Entries with an id above this one (for followers). */
  afterId?: number;
  /** Entries at or before this time (ISO 8601). */
  until?: string;
  /** Newest first, at most this many (default 100). */
  limit?: number;
}

export interface RegistryStore extends ApiKeyStore {
  /** Creates or upgrades the schema; safe to run from several processes at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  listVersions(model?: string): Promise<VersionRecord[]>;
  getVersion(model: string, version: number): Promise<VersionRecord | undefined>;
  /** Highest registered version number of a model, 0 when none. */
  latestVersion(model: string): Promise<number>;
  /**
   * Registers a version. Throws MP_ERR_REGISTRY_CONFLICT when the number is taken by a different
   * digest; registering the same model, version and digest again is a no-op that returns false.
   */
  insertVersion(record: VersionRecord, audit: AuditInput): Promise<boolean>;
  /** Throws MP_ERR_REGISTRY_IN_USE when an alias points at it, MP_ERR_MODEL_VERSION_UNKNOWN when absent. */
  deleteVersion(model: string, version: number, audit: AuditInput): Promise<void>;

  listAliases(model?: string): Promise<AliasRecord[]>;
  /** Creates or moves an alias; the version must be registered (MP_ERR_MODEL_VERSION_UNKNOWN). */
  setAlias(record: AliasRecord, audit: AuditInput): Promise<void>;
  /** MP_ERR_REGISTRY_ALIAS_UNKNOWN when absent. */
  deleteAlias(model: string, alias: string, audit: AuditInput): Promise<void>;

  getRouting(model: string): Promise<RoutingRecord | undefined>;
  listRouting(): Promise<RoutingRecord[]>;
  /**
   * Writes a model's routing when its revision is still `expectedRevision` (0 = none yet);
   * returns the new record, or undefined when someone else changed it first.
   */
  putRouting(model: string, spec: RoutingSpec, expectedRevision: number, actor: string, audit: AuditInput): Promise<RoutingRecord | undefined>;

  /** The rollout that is running or paused for a model, if any. */
  activeRollout(model: string): Promise<RolloutRecord | undefined>;
  getRollout(id: string): Promise<RolloutRecord | undefined>;
  /** Newest first. */
  listRollouts(model?: string, limit?: number): Promise<RolloutRecord[]>;
  /**
   * Inserts (expectedRevision 0) or updates a rollout, compare-and-set as putRouting, and in the
   * same transaction the routing change it implies (when `routing` is given) and the audit entry.
   */
  putRollout(
    record: RolloutRecord,
    expectedRevision: number,
    audit: AuditInput,
    routing?: { spec: RoutingSpec; expectedRevision: number },
  ): Promise<RolloutRecord | undefined>;

  /** Replaces this replica's counts for (rollout, step, arm). */
  putArmSample(sample: ArmSample): Promise<void>;
  /** Every replica's counts for one step of a rollout. */
  armSamples(rolloutId: string, step: number): Promise<ArmSample[]>;

  appendAudit(entry: AuditInput): Promise<AuditEntry>;
  listAudit(query?: AuditQuery): Promise<AuditEntry[]>;
  /** Id of the newest audit entry (0 when empty): every change writes one, so followers poll this. */
  lastAuditId(): Promise<number>;
  /** The pg Pool of a Postgres registry (rate-limit counters shared by replicas live beside it). */
  postgresPool(): unknown;
}
