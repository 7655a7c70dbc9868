/**
 * The registry's tables as Kysely sees them, the migrations that create them, and the one piece
 * of engine-specific plumbing the store needs: how a write transaction starts. The same schema
 * serves SQLite and Postgres; JSON travels as TEXT in both so that neither engine's JSON type
 * leaks into the queries.
 */
import { sql, type ColumnType, type Generated, type Kysely } from 'kysely';
import { mpError } from '../../core/index.js';

export type Engine = 'sqlite' | 'postgres';

/** Postgres hands BIGINT and BIGSERIAL back as strings (to stay exact); SQLite as numbers. */
type BigIntColumn = ColumnType<number | string, number, number>;

export interface ModelVersionsTable {
  model: string;
  version: number;
  digest: string;
  size: BigIntColumn;
  created_at: string;
  created_by: string;
  source: string;
  run_id: string;
  description: string;
  /** JSON object of strings. */
  tags: string;
  /** JSON ModelSignature, or null when the version has none. */
  signature: string | null;
}

export interface AliasesTable {
  model: string;
  alias: string;
  version: number;
  updated_at: string;
  updated_by: string;
}

export interface RoutingTable {
  model: string;
  /** JSON RoutingSpec. */
  spec: string;
  revision: number;
  updated_at: string;
  updated_by: string;
}

export interface RolloutsTable {
  id: string;
  model: string;
  from_version: number;
  to_version: number;
  /** JSON RolloutPolicy. */
  policy: string;
  status: string;
  step: number;
  step_started_at: string;
  started_at: string;
  updated_at: string;
  reason: string;
  revision: number;
}

export interface ArmSamplesTable {
  rollout_id: string;
  step: number;
  replica: string;
  arm: string;
  requests: BigIntColumn;
  errors: BigIntColumn;
  /** JSON array of counts. */
  latency_buckets: string;
}

export interface AuditTable {
  id: Generated<number | string>;
  at: string;
  actor: string;
  model: string;
  action: string;
  from_value: string;
  to_value: string;
  reason: string;
  /** JSON object, or null. */
  details: string | null;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  role: string;
  /** JSON array of model names, or null for all models. */
  models: string | null;
  /** Hex SHA-256 of the key; the key itself is never stored. */
  hash: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
}

/** Records which migrations have run, so that a newer server can upgrade an older registry. */
export interface RegistrySchemaTable {
  version: number;
  applied_at: string;
}

export interface RegistryDatabase {
  model_versions: ModelVersionsTable;
  aliases: AliasesTable;
  routing: RoutingTable;
  rollouts: RolloutsTable;
  arm_samples: ArmSamplesTable;
  audit: AuditTable;
  registry_schema: RegistrySchemaTable;
  api_keys: ApiKeysTable;
}

/**
 * Runs `fn` in a transaction that holds the write lock from its first statement.
 *
 * SQLite's default (deferred) transaction takes the write lock only at the first write; when two
 * processes read and then both try to write, one gets SQLITE_BUSY at once, without waiting out
 * busy_timeout. BEGIN IMMEDIATE makes the second writer wait for the lock instead, which is what a
 * read-compare-write (the CAS writes) needs. The dialect has a single connection behind a mutex, so
 * the raw BEGIN/COMMIT on `connection()` cannot interleave with another query of this process.
 * Postgres runs the default READ COMMITTED transaction: every CAS is a conditional UPDATE or an
 * INSERT … ON CONFLICT DO NOTHING, which re-checks its condition after waiting for a row lock.
 */
export async function writeTransaction<T>(db: Kysely<RegistryDatabase>, engine: Engine, fn: (trx: Kysely<RegistryDatabase>) => Promise<T>): Promise<T> {
  if (engine === 'postgres') return db.transaction().execute(fn);
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    let result: T;
    try {
      result = await fn(conn);
    } catch (error) {
      // SQLite may already have rolled back on its own (SQLITE_FULL, an interrupt); that is fine.
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw error;
    }
    await sql`commit`.execute(conn);
    return result;
  });
}

/** Arbitrary but fixed: every process that migrates a registry must take the same lock. */
const MIGRATION_LOCK_KEY = 7_236_051_201;

type Migration = (db: Kysely<RegistryDatabase>, engine: Engine) => Promise<void>;

/** In order; a registry at schema version n has run the first n. Never edit one that shipped. */
const MIGRATIONS: Migration[] = [
  async (db, engine) => {
    // Every table carries IF NOT EXISTS as a second line of defence: the lock already serialises.
    await db.schema
      .createTable('model_versions')
      .ifNotExists()
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('signature', 'text')
      // The key's leading column doubles as the index on model.
      .addPrimaryKeyConstraint('model_versions_pk', ['model', 'version'])
      .execute();

    await db.schema
      .createTable('aliases')
      .ifNotExists()
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('alias', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('aliases_pk', ['model', 'alias'])
      .execute();

    await db.schema
      .createTable('routing')
      .ifNotExists()
      .addColumn('model', 'text', (c) => c.primaryKey())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('rollouts')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('from_version', 'integer', (c) => c.notNull())
      .addColumn('to_version', 'integer', (c) => c.notNull())
      .addColumn('policy', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('step', 'integer', (c) => c.notNull())
      .addColumn('step_started_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('rollouts_model_idx').ifNotExists().on('rollouts').columns(['model', 'started_at']).execute();

    await db.schema
      .createTable('arm_samples')
      .ifNotExists()
      .addColumn('rollout_id', 'text', (c) => c.notNull())
      .addColumn('step', 'integer', (c) => c.notNull())
      .addColumn('replica', 'text', (c) => c.notNull())
      .addColumn('arm', 'text', (c) => c.notNull())
      .addColumn('requests', 'bigint', (c) => c.notNull())
      .addColumn('errors', 'bigint', (c) => c.notNull())
      .addColumn('latency_buckets', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('arm_samples_pk', ['rollout_id', 'step', 'replica', 'arm'])
      .execute();

    // AUTOINCREMENT (not just INTEGER PRIMARY KEY) so SQLite never hands out an id twice: followers
    // poll for ids above the last one they saw.
    await db.schema
      .createTable('audit')
      .ifNotExists()
      .$call((t) =>
        engine === 'postgres'
          ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
          : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()),
      )
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('from_value', 'text', (c) => c.notNull())
      .addColumn('to_value', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('details', 'text')
      .execute();
    await db.schema.createIndex('audit_model_id_idx').ifNotExists().on('audit').columns(['model', 'id']).execute();
  },
  async (db) => {
    await db.schema
      .createTable('api_keys')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('models', 'text')
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
  },
];

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema up to SCHEMA_VERSION and returns the version it found. Safe when several
 * processes run it at once: on Postgres they queue on a transaction-scoped advisory lock (DDL is
 * transactional there, so a crash leaves nothing half-made); on SQLite on the database's write lock.
 */
export async function migrate(db: Kysely<RegistryDatabase>, engine: Engine): Promise<{ from: number; to: number }> {
  return writeTransaction(db, engine, async (trx) => {
    if (engine === 'postgres') await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}::bigint)`.execute(trx);
    await trx.schema
      .createTable('registry_schema')
      .ifNotExists()
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('applied_at', 'text', (c) => c.notNull())
      .execute();
    const row = await trx
      .selectFrom('registry_schema')
      .select((eb) => eb.fn.max('version').as('version'))
      .executeTakeFirst();
    const from = Number(row?.version ?? 0);
    if (from > SCHEMA_VERSION) {
      // A newer server upgraded this registry; running against it could silently drop new fields.
      throw mpError(
        'MP_ERR_REGISTRY_UNAVAILABLE',
        `registry schema is at version ${from}, newer than this server's ${SCHEMA_VERSION}; upgrade the server`,
      );
    }
    for (let version = from + 1; version <= SCHEMA_VERSION; version++) {
      await MIGRATIONS[version - 1]!(trx, engine);
      await trx.insertInto('registry_schema').values({ version, applied_at: new Date().toISOString() }).execute();
    }
    return { from, to: SCHEMA_VERSION };
  });
}
