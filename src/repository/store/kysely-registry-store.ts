/**
 * The RegistryStore over Kysely: one set of queries for SQLite (better-sqlite3, one box) and
 * Postgres (pg, replicas sharing a registry). Every change and its audit entry commit together;
 * routing and rollouts are compare-and-set on their revision, expressed as a conditional UPDATE or
 * an INSERT … ON CONFLICT DO NOTHING so that the database itself decides which racing writer wins.
 */
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Insertable, type Selectable } from 'kysely';
import pg from 'pg';
import {
  isModelportError,
  mpError,
  silentLogger,
  type AliasRecord,
  type ArmSample,
  type AuditEntry,
  type AuditInput,
  type Logger,
  type ModelportError,
  type RolloutPolicy,
  type RolloutRecord,
  type RolloutStatus,
  type RoutingRecord,
  type RoutingSpec,
  type VersionRecord,
} from '../../core/index.js';
import type { ApiKeyRecord } from '../../security/index.js';
import type { AuditQuery, RegistryStore } from '../registry-store.js';
import {
  migrate,
  writeTransaction,
  type AliasesTable,
  type ApiKeysTable,
  type ArmSamplesTable,
  type AuditTable,
  type Engine,
  type ModelVersionsTable,
  type RegistryDatabase,
  type RolloutsTable,
  type RoutingTable,
} from './schema.js';

type Db = Kysely<RegistryDatabase>;

export interface RegistryStoreOptions {
  logger?: Logger;
}

const DEFAULT_AUDIT_LIMIT = 100;
const MAX_LIST_LIMIT = 1000;

/**
 * Postgres only: taken right before each audit row is inserted and held until commit. Serial ids
 * are drawn at insert time but become visible at commit, so without it a follower that read up to
 * id 12 could later miss an id 11 that committed after 12. Writes to the registry are rare, so
 * serialising their last statement costs nothing that matters. Taken last, after every row lock
 * of the transaction, so it cannot take part in a deadlock.
 */
const AUDIT_LOCK_KEY = 7_236_051_202;

/** Thrown inside a transaction to roll it back when a compare-and-set loses. */
class CasLost extends Error {}

export class KyselyRegistryStore implements RegistryStore {
  readonly engine: Engine;
  private readonly db: Db;
  private readonly logger: Logger;
  private readonly pool: unknown;
  private closed = false;

  constructor(db: Db, engine: Engine, options: RegistryStoreOptions & { pool?: unknown } = {}) {
    this.db = db;
    this.engine = engine;
    this.pool = options.pool;
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * A store on a SQLite file (or ":memory:"); the folder must exist. Call migrate() before use.
   * Open one store per file per process: better-sqlite3 waits for a lock synchronously, so a second
   * connection in the same process would block the very event loop the first needs to finish.
   * Other processes (the CLI beside a server) just queue on the lock for up to busy_timeout.
   */
  static sqlite(path: string, options: RegistryStoreOptions = {}): KyselyRegistryStore {
    const database = new Database(path);
    // busy_timeout first: switching to WAL itself needs the lock another process may hold.
    database.pragma('busy_timeout = 5000');
    // WAL lets the server read while the CLI writes; readers never block the single writer.
    database.pragma('journal_mode = WAL');
    return new KyselyRegistryStore(new Kysely<RegistryDatabase>({ dialect: new SqliteDialect({ database }) }), 'sqlite', options);
  }

  /** A store on a Postgres database given by its connection URL. Call migrate() before use. */
  static postgres(url: string, options: RegistryStoreOptions = {}): KyselyRegistryStore {
    const logger = options.logger ?? silentLogger;
    const pool = new pg.Pool({ connectionString: url, max: 5 });
    // An idle client losing its connection emits 'error' on the pool; unhandled, it would end the
    // process. The next query reconnects, so a warning is all it deserves.
    pool.on('error', (error) => logger.warn({ err: error }, 'registry store: idle Postgres connection failed'));
    return new KyselyRegistryStore(new Kysely<RegistryDatabase>({ dialect: new PostgresDialect({ pool }) }), 'postgres', { ...options, logger, pool });
  }

  async migrate(): Promise<void> {
    const { from, to } = await this.guard(() => migrate(this.db, this.engine));
    if (from !== to) this.logger.info({ engine: this.engine, from, to }, 'registry schema migrated');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
  }

  // ---- versions ----------------------------------------------------------------------------

  async listVersions(model?: string): Promise<VersionRecord[]> {
    return this.guard(async () => {
      const rows = await this.db
        .selectFrom('model_versions')
        .selectAll()
        .$if(model !== undefined, (q) => q.where('model', '=', model!))
        .orderBy('model')
        .orderBy('version')
        .execute();
      return rows.map(toVersion);
    });
  }

  async getVersion(model: string, version: number): Promise<VersionRecord | undefined> {
    return this.guard(async () => {
      const row = await this.db.selectFrom('model_versions').selectAll().where('model', '=', model).where('version', '=', version).executeTakeFirst();
      return row && toVersion(row);
    });
  }

  async latestVersion(model: string): Promise<number> {
    return this.guard(async () => {
      const row = await this.db
        .selectFrom('model_versions')
        .select((eb) => eb.fn.max('version').as('version'))
        .where('model', '=', model)
        .executeTakeFirst();
      return Number(row?.version ?? 0);
    });
  }

  async insertVersion(record: VersionRecord, audit: AuditInput): Promise<boolean> {
    return this.write(async (trx) => {
      const inserted = await trx
        .insertInto('model_versions')
        .values(fromVersion(record))
        .onConflict((oc) => oc.columns(['model', 'version']).doNothing())
        .returning('version')
        .executeTakeFirst();
      if (!inserted) {
        // Postgres: ON CONFLICT waited for the other writer's commit, so this read sees its row.
        const existing = await trx
          .selectFrom('model_versions')
          .select('digest')
          .where('model', '=', record.model)
          .where('version', '=', record.version)
          .executeTakeFirst();
        if (existing?.digest === record.digest) return false;
        throw mpError(
          'MP_ERR_REGISTRY_CONFLICT',
          `version ${record.version} of model '${record.model}' is already registered with digest ${existing?.digest ?? '(unknown)'}; ` +
            `refusing digest ${record.digest}`,
        );
      }
      await this.insertAudit(trx, audit);
      return true;
    });
  }

  async deleteVersion(model: string, version: number, audit: AuditInput): Promise<void> {
    await this.write(async (trx) => {
      // FOR UPDATE on Postgres: a concurrent setAlias reads the version FOR SHARE, so the two queue
      // instead of both passing their checks.
      const existing = await trx
        .selectFrom('model_versions')
        .select('version')
        .where('model', '=', model)
        .where('version', '=', version)
        .$if(this.engine === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!existing) throw mpError('MP_ERR_MODEL_VERSION_UNKNOWN', `model '${model}' has no version ${version}`);

      const aliases = (
        await trx.selectFrom('aliases').select('alias').where('model', '=', model).where('version', '=', version).orderBy('alias').execute()
      ).map((row) => row.alias);
      const routing = await trx.selectFrom('routing').select('spec').where('model', '=', model).executeTakeFirst();
      const arms = routing ? armsUsing(parseJson<RoutingSpec>(routing.spec), version) : [];
      if (aliases.length > 0 || arms.length > 0) {
        const uses: string[] = [];
        if (aliases.length > 0) uses.push(`alias${aliases.length > 1 ? 'es' : ''} ${aliases.map((a) => `'${a}'`).join(', ')} point${aliases.length > 1 ? '' : 's'} at it`);
        if (arms.length > 0) uses.push(`routing arm${arms.length > 1 ? 's' : ''} ${arms.map((a) => `'${a}'`).join(', ')} serve${arms.length > 1 ? '' : 's'} it`);
        throw mpError('MP_ERR_REGISTRY_IN_USE', `cannot delete version ${version} of model '${model}': ${uses.join('; ')}`);
      }

      await trx.deleteFrom('model_versions').where('model', '=', model).where('version', '=', version).execute();
      await this.insertAudit(trx, audit);
    });
  }

  // ---- aliases -----------------------------------------------------------------------------

  async listAliases(model?: string): Promise<AliasRecord[]> {
    return this.guard(async () => {
      const rows = await this.db
        .selectFrom('aliases')
        .selectAll()
        .$if(model !== undefined, (q) => q.where('model', '=', model!))
        .orderBy('model')
        .orderBy('alias')
        .execute();
      return rows.map(toAlias);
    });
  }

  async setAlias(record: AliasRecord, audit: AuditInput): Promise<void> {
    await this.write(async (trx) => {
      const version = await trx
        .selectFrom('model_versions')
        .select('version')
        .where('model', '=', record.model)
        .where('version', '=', record.version)
        .$if(this.engine === 'postgres', (q) => q.forShare())
        .executeTakeFirst();
      if (!version) {
        throw mpError('MP_ERR_MODEL_VERSION_UNKNOWN', `cannot point alias '${record.alias}' at version ${record.version} of model '${record.model}': no such version`);
      }
      const row: AliasesTable = {
        model: record.model,
        alias: record.alias,
        version: record.version,
        updated_at: record.updatedAt,
        updated_by: record.updatedBy,
      };
      await trx
        .insertInto('aliases')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['model', 'alias']).doUpdateSet({ version: row.version, updated_at: row.updated_at, updated_by: row.updated_by }),
        )
        .execute();
      await this.insertAudit(trx, audit);
    });
  }

  async deleteAlias(model: string, alias: string, audit: AuditInput): Promise<void> {
    await this.write(async (trx) => {
      const deleted = await trx.deleteFrom('aliases').where('model', '=', model).where('alias', '=', alias).returning('alias').executeTakeFirst();
      if (!deleted) throw mpError('MP_ERR_REGISTRY_ALIAS_UNKNOWN', `model '${model}' has no alias '${alias}'`);
      await this.insertAudit(trx, audit);
    });
  }

  // ---- routing -----------------------------------------------------------------------------

  async getRouting(model: string): Promise<RoutingRecord | undefined> {
    return this.guard(async () => {
      const row = await this.db.selectFrom('routing').selectAll().where('model', '=', model).executeTakeFirst();
      return row && toRouting(row);
    });
  }

  async listRouting(): Promise<RoutingRecord[]> {
    return this.guard(async () => (await this.db.selectFrom('routing').selectAll().orderBy('model').execute()).map(toRouting));
  }

  async putRouting(model: string, spec: RoutingSpec, expectedRevision: number, actor: string, audit: AuditInput): Promise<RoutingRecord | undefined> {
    return this.write(async (trx) => {
      const record = await this.casRouting(trx, model, spec, expectedRevision, actor);
      if (!record) return undefined;
      await this.insertAudit(trx, audit);
      return record;
    });
  }

  /** The routing write both putRouting and putRollout make; undefined when the CAS loses. */
  private async casRouting(trx: Db, model: string, spec: RoutingSpec, expectedRevision: number, actor: string): Promise<RoutingRecord | undefined> {
    const row: RoutingTable = {
      model,
      spec: JSON.stringify(spec),
      revision: expectedRevision + 1,
      updated_at: new Date().toISOString(),
      updated_by: actor,
    };
    const won =
      expectedRevision === 0
        ? await trx
            .insertInto('routing')
            .values(row)
            .onConflict((oc) => oc.column('model').doNothing())
            .returning('model')
            .executeTakeFirst()
        : await trx
            .updateTable('routing')
            .set({ spec: row.spec, revision: row.revision, updated_at: row.updated_at, updated_by: row.updated_by })
            .where('model', '=', model)
            .where('revision', '=', expectedRevision)
            .returning('model')
            .executeTakeFirst();
    return won ? toRouting(row) : undefined;
  }

  // ---- rollouts ----------------------------------------------------------------------------

  async activeRollout(model: string): Promise<RolloutRecord | undefined> {
    return this.guard(async () => {
      const row = await this.db
        .selectFrom('rollouts')
        .selectAll()
        .where('model', '=', model)
        .where('status', 'in', ['running', 'paused'])
        .orderBy('started_at', 'desc')
        .orderBy('id', 'desc')
        .executeTakeFirst();
      return row && toRollout(row);
    });
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    return this.guard(async () => {
      const row = await this.db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toRollout(row);
    });
  }

  async listRollouts(model?: string, limit?: number): Promise<RolloutRecord[]> {
    return this.guard(async () => {
      const rows = await this.db
        .selectFrom('rollouts')
        .selectAll()
        .$if(model !== undefined, (q) => q.where('model', '=', model!))
        .orderBy('started_at', 'desc')
        .orderBy('id', 'desc')
        .limit(clampLimit(limit))
        .execute();
      return rows.map(toRollout);
    });
  }

  async putRollout(
    record: RolloutRecord,
    expectedRevision: number,
    audit: AuditInput,
    routing?: { spec: RoutingSpec; expectedRevision: number },
  ): Promise<RolloutRecord | undefined> {
    try {
      return await this.write(async (trx) => {
        const row = fromRollout({ ...record, revision: expectedRevision + 1 });
        const won =
          expectedRevision === 0
            ? await trx
                .insertInto('rollouts')
                .values(row)
                .onConflict((oc) => oc.column('id').doNothing())
                .returning('id')
                .executeTakeFirst()
            : await trx
                .updateTable('rollouts')
                .set({
                  from_version: row.from_version,
                  to_version: row.to_version,
                  policy: row.policy,
                  status: row.status,
                  step: row.step,
                  step_started_at: row.step_started_at,
                  started_at: row.started_at,
                  updated_at: row.updated_at,
                  reason: row.reason,
                  revision: row.revision,
                })
                .where('id', '=', record.id)
                .where('revision', '=', expectedRevision)
                .returning('id')
                .executeTakeFirst();
        if (!won) return undefined;
        // The rollout row is already written: a lost routing CAS must roll it back, not just return.
        if (routing && !(await this.casRouting(trx, record.model, routing.spec, routing.expectedRevision, audit.actor))) throw new CasLost();
        await this.insertAudit(trx, audit);
        return toRollout(row);
      });
    } catch (error) {
      if (error instanceof CasLost) return undefined;
      throw error;
    }
  }

  // ---- arm samples -------------------------------------------------------------------------

  async putArmSample(sample: ArmSample): Promise<void> {
    const row: Insertable<ArmSamplesTable> = {
      rollout_id: sample.rolloutId,
      step: sample.step,
      replica: sample.replica,
      arm: sample.arm,
      requests: sample.requests,
      errors: sample.errors,
      latency_buckets: JSON.stringify(sample.latencyBuckets),
    };
    await this.guard(() =>
      this.db
        .insertInto('arm_samples')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['rollout_id', 'step', 'replica', 'arm']).doUpdateSet((eb) => ({
            requests: eb.ref('excluded.requests'),
            errors: eb.ref('excluded.errors'),
            latency_buckets: eb.ref('excluded.latency_buckets'),
          })),
        )
        .execute(),
    );
  }

  async armSamples(rolloutId: string, step: number): Promise<ArmSample[]> {
    return this.guard(async () => {
      const rows = await this.db
        .selectFrom('arm_samples')
        .selectAll()
        .where('rollout_id', '=', rolloutId)
        .where('step', '=', step)
        .orderBy('replica')
        .orderBy('arm')
        .execute();
      return rows.map(toArmSample);
    });
  }

  // ---- audit -------------------------------------------------------------------------------

  async appendAudit(entry: AuditInput): Promise<AuditEntry> {
    return this.write((trx) => this.insertAudit(trx, entry));
  }

  async listAudit(query: AuditQuery = {}): Promise<AuditEntry[]> {
    return this.guard(async () => {
      const rows = await this.db
        .selectFrom('audit')
        .selectAll()
        .$if(query.model !== undefined, (q) => q.where('model', '=', query.model!))
        .$if(query.afterId !== undefined, (q) => q.where('id', '>', query.afterId!))
        .$if(query.until !== undefined, (q) => q.where('at', '<=', normalizeTime(query.until!)))
        .orderBy('id', 'desc')
        .limit(clampLimit(query.limit))
        .execute();
      return rows.map(toAudit);
    });
  }

  async lastAuditId(): Promise<number> {
    return this.guard(async () => {
      const row = await this.db
        .selectFrom('audit')
        .select((eb) => eb.fn.max('id').as('id'))
        .executeTakeFirst();
      return Number(row?.id ?? 0);
    });
  }

  /** Appends one audit row inside the caller's transaction. */
  private async insertAudit(trx: Db, entry: AuditInput): Promise<AuditEntry> {
    if (this.engine === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY}::bigint)`.execute(trx);
    const row: Omit<AuditTable, 'id'> = {
      at: entry.at === undefined ? new Date().toISOString() : normalizeTime(entry.at),
      actor: entry.actor,
      model: entry.model,
      action: entry.action,
      from_value: entry.from,
      to_value: entry.to,
      reason: entry.reason,
      details: entry.details === undefined ? null : JSON.stringify(entry.details),
    };
    const inserted = await trx.insertInto('audit').values(row).returning('id').executeTakeFirstOrThrow();
    return toAudit({ ...row, id: inserted.id });
  }

  // ---- API keys ----------------------------------------------------------------------------

  async createApiKey(record: ApiKeyRecord): Promise<void> {
    await this.write(async (trx) => {
      const inserted = await trx
        .insertInto('api_keys')
        .values({
          id: record.id,
          name: record.name,
          role: record.role,
          models: record.models === null ? null : JSON.stringify(record.models),
          hash: record.hash,
          created_at: record.createdAt,
          created_by: record.createdBy,
          expires_at: record.expiresAt,
          revoked_at: record.revokedAt,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted === undefined) throw mpError('MP_ERR_REGISTRY_CONFLICT', `an API key with id ${record.id} already exists`);
    });
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.guard(async () => {
      const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : toApiKey(row);
    });
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.guard(async () => (await this.db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute()).map(toApiKey));
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    return this.write(async (trx) => {
      const row = await trx.selectFrom('api_keys').select('id').where('id', '=', id).executeTakeFirst();
      if (row === undefined) return false;
      await trx.updateTable('api_keys').set({ revoked_at: normalizeTime(at) }).where('id', '=', id).where('revoked_at', 'is', null).execute();
      return true;
    });
  }

  /** The pg Pool behind a Postgres store (for counters shared by replicas), else undefined. */
  postgresPool(): unknown {
    return this.pool;
  }

  // ---- plumbing ----------------------------------------------------------------------------

  private write<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return this.guard(() => writeTransaction(this.db, this.engine, fn));
  }

  /** Lets the registry's own errors through and names a database that cannot be reached. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (isModelportError(error) || error instanceof CasLost) throw error;
      const unavailable = unavailableError(error, this.engine);
      if (unavailable) throw unavailable;
      throw error;
    }
  }
}

/** Connection-level failures (as opposed to a bad query) become MP_ERR_REGISTRY_UNAVAILABLE. */
function unavailableError(error: unknown, engine: Engine): ModelportError | undefined {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
  const message = error instanceof Error ? error.message : String(error);
  const transient =
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH'].includes(code) ||
    // Postgres SQLSTATE classes 08 (connection), 57P (shutdown), 53 (out of resources), 3D000 (no such database).
    /^(08|57P|53|3D000)/.test(code) ||
    /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|READONLY|FULL)/.test(code) ||
    /Connection terminated|timeout exceeded when trying to connect/i.test(message);
  return transient ? mpError('MP_ERR_REGISTRY_UNAVAILABLE', `registry store (${engine}) unavailable: ${message}`, error) : undefined;
}

// ---- rows ⇄ records ----------------------------------------------------------------------------

function fromVersion(record: VersionRecord): Insertable<ModelVersionsTable> {
  return {
    model: record.model,
    version: record.version,
    digest: record.digest,
    size: record.size,
    created_at: record.createdAt,
    created_by: record.createdBy,
    source: record.source,
    run_id: record.runId,
    description: record.description,
    tags: JSON.stringify(record.tags ?? {}),
    signature: record.signature === undefined ? null : JSON.stringify(record.signature),
  };
}

function toVersion(row: Selectable<ModelVersionsTable>): VersionRecord {
  const record: VersionRecord = {
    model: row.model,
    version: row.version,
    digest: row.digest,
    size: Number(row.size),
    createdAt: row.created_at,
    createdBy: row.created_by,
    source: row.source,
    runId: row.run_id,
    description: row.description,
    tags: parseJson<Record<string, string>>(row.tags),
  };
  if (row.signature !== null) record.signature = parseJson(row.signature);
  return record;
}

function toApiKey(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role as ApiKeyRecord['role'],
    models: row.models === null ? null : parseJson<string[]>(row.models),
    hash: row.hash,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

function toAlias(row: Selectable<AliasesTable>): AliasRecord {
  return { model: row.model, alias: row.alias, version: row.version, updatedAt: row.updated_at, updatedBy: row.updated_by };
}

function toRouting(row: Selectable<RoutingTable>): RoutingRecord {
  return { model: row.model, spec: parseJson<RoutingSpec>(row.spec), revision: row.revision, updatedAt: row.updated_at, updatedBy: row.updated_by };
}

function fromRollout(record: RolloutRecord): RolloutsTable {
  return {
    id: record.id,
    model: record.model,
    from_version: record.from,
    to_version: record.to,
    policy: JSON.stringify(record.policy),
    status: record.status,
    step: record.step,
    step_started_at: record.stepStartedAt,
    started_at: record.startedAt,
    updated_at: record.updatedAt,
    reason: record.reason,
    revision: record.revision,
  };
}

function toRollout(row: Selectable<RolloutsTable>): RolloutRecord {
  return {
    id: row.id,
    model: row.model,
    from: row.from_version,
    to: row.to_version,
    policy: parseJson<RolloutPolicy>(row.policy),
    status: row.status as RolloutStatus,
    step: row.step,
    stepStartedAt: row.step_started_at,
    startedAt: row.started_at,
    updatedAt: row.updated_at,
    reason: row.reason,
    revision: row.revision,
  };
}

function toArmSample(row: Selectable<ArmSamplesTable>): ArmSample {
  return {
    rolloutId: row.rollout_id,
    step: row.step,
    replica: row.replica,
    arm: row.arm,
    requests: Number(row.requests),
    errors: Number(row.errors),
    latencyBuckets: parseJson<number[]>(row.latency_buckets),
  };
}

function toAudit(row: Selectable<AuditTable>): AuditEntry {
  const entry: AuditEntry = {
    id: Number(row.id),
    at: row.at,
    actor: row.actor,
    model: row.model,
    action: row.action,
    from: row.from_value,
    to: row.to_value,
    reason: row.reason,
  };
  if (row.details !== null) entry.details = parseJson<Record<string, unknown>>(row.details);
  return entry;
}

/** Names of the arms (and "shadow") of a routing spec that send traffic to `version`. */
function armsUsing(spec: RoutingSpec, version: number): string[] {
  const arms = spec.arms.filter((arm) => arm.version === version).map((arm) => arm.name);
  if (spec.shadow?.version === version) arms.push('shadow');
  return arms;
}

function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

/**
 * Times are compared as text (the audit's `until`), which orders correctly only in one shape:
 * toISOString's UTC with milliseconds. Anything Date cannot parse is kept as given.
 */
function normalizeTime(value: string): string {
  const time = Date.parse(value);
  return Number.isNaN(time) ? value : new Date(time).toISOString();
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_AUDIT_LIMIT;
  return Math.min(MAX_LIST_LIMIT, Math.max(1, Math.floor(limit)));
}
