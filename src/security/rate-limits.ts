/**
 * Request rate limits per principal and per model, on rate-limiter-flexible. A limit reads
 * `RATE/UNIT[,burst=N]` (`100/s`, `3000/m,burst=200`): RATE requests per window, plus up to N
 * more drawn from a burst allowance that refills at the same rate (the library's
 * BurstyRateLimiter), which behaves as a token bucket of RATE + N. Counters live in memory, or in
 * the registry's Postgres so that replicas share them (with an in-memory limiter taking over if the
 * database stops answering). A refusal is MP_ERR_RATE_LIMITED with the time until the next
 * request would pass, which adapters turn into 429 / RESOURCE_EXHAUSTED with Retry-After and the
 * RateLimit fields.
 */
import {
  BurstyRateLimiter,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
  type RateLimiterAbstract,
  type RateLimiterStoreAbstract,
} from 'rate-limiter-flexible';
import { mpError, type ModelportError } from '../core/index.js';
import type { Principal } from './roles.js';

export interface RateSpec {
  /** Requests per window. */
  points: number;
  windowSecs: number;
  /** Extra requests allowed in a burst (0 = none). */
  burst: number;
}

const UNIT_SECS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** Parses `100/s`, `3000/m,burst=200`; undefined when the text is not a limit. */
export function parseRateSpec(text: string): RateSpec | undefined {
  const match = /^\s*(\d+)\s*\/\s*([smh])\s*(?:,\s*burst\s*=\s*(\d+)\s*)?$/.exec(text);
  if (match === null) return undefined;
  const points = Number(match[1]);
  if (!Number.isSafeInteger(points) || points < 1) return undefined;
  return { points, windowSecs: UNIT_SECS[match[2]!]!, burst: match[3] === undefined ? 0 : Number(match[3]) };
}

export interface RateLimitsOptions {
  perPrincipal?: RateSpec;
  /** Per model name; '*' applies to every model not named. */
  perModel?: Record<string, RateSpec>;
}

interface Limiter {
  name: string;
  spec: RateSpec;
  consume(key: string): Promise<RateLimiterRes>;
}

const TABLE = 'modelport_rate_limits';

/** What creating the table needs of the registry's pg Pool (the pool is the store's; pg is not imported here). */
interface PostgresPool {
  connect(): Promise<{ query(text: string, values?: unknown[]): Promise<unknown>; release(): void }>;
}

/**
 * Creates the counters' table once, however many replicas start together. Postgres does not
 * make CREATE TABLE IF NOT EXISTS safe against itself: two at once can fail with "relation
 * already exists" (the second of two replicas started side by side exited on it, and so could
 * two limiters of one process). Creators therefore queue on a transaction-scoped advisory lock,
 * and rate-limiter-flexible is told the table is there. Its columns are the library's.
 */
async function createTable(pool: PostgresPool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [TABLE]);
    await client.query(`CREATE TABLE IF NOT EXISTS "${TABLE}" (key varchar(255) PRIMARY KEY, points integer NOT NULL DEFAULT 0, expire bigint)`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export class RateLimits {
  readonly #options: RateLimitsOptions;
  #principal: Limiter | undefined;
  #models = new Map<string, Limiter>();
  #anyModel: Limiter | undefined;
  #ready: Promise<unknown>[] = [];

  constructor(options: RateLimitsOptions) {
    this.#options = options;
    this.#build(undefined);
  }

  get enabled(): boolean {
    return this.#principal !== undefined || this.#anyModel !== undefined || this.#models.size > 0;
  }

  /**
   * Moves the counters into Postgres (`pool` is a pg Pool of the registry database) so that
   * replicas share them; resolves once their table exists.
   */
  async share(pool: unknown): Promise<void> {
    await createTable(pool as PostgresPool);
    this.#ready = [];
    this.#build(pool);
    await Promise.all(this.#ready);
  }

  #build(pool: unknown): void {
    const options = this.#options;
    this.#principal = options.perPrincipal ? this.#limiter('per-credential', 'p', options.perPrincipal, pool) : undefined;
    this.#models = new Map();
    this.#anyModel = undefined;
    for (const [model, spec] of Object.entries(options.perModel ?? {})) {
      const limiter = this.#limiter(model === '*' ? 'per-model' : `model-${model}`, model === '*' ? 'm' : `m:${model}`, spec, pool);
      if (model === '*') this.#anyModel = limiter;
      else this.#models.set(model, limiter);
    }
  }

  /** Counts one request of `principal` on `model`; rejects with MP_ERR_RATE_LIMITED when over a limit. */
  async consume(principal: Principal, model: string): Promise<void> {
    if (this.#principal) await take(this.#principal, principal.id);
    const modelLimiter = this.#models.get(model) ?? this.#anyModel;
    if (modelLimiter) await take(modelLimiter, model);
  }

  #limiter(name: string, prefix: string, spec: RateSpec, pool: unknown): Limiter {
    const base = { points: spec.points, duration: spec.windowSecs, keyPrefix: `mp:${prefix}` };
    let main: RateLimiterAbstract | RateLimiterStoreAbstract = new RateLimiterMemory(base);
    if (pool !== undefined) {
      let resolveReady!: () => void;
      let rejectReady!: (error: Error) => void;
      this.#ready.push(new Promise<void>((resolve, reject) => ((resolveReady = resolve), (rejectReady = reject))));
      main = new RateLimiterPostgres(
        { ...base, storeClient: pool, storeType: 'pool', tableName: TABLE, tableCreated: true, clearExpiredByTimeout: true, insuranceLimiter: new RateLimiterMemory(base) },
        (error?: Error) => (error ? rejectReady(error) : resolveReady()),
      );
    }
    // The burst allowance refills at the sustained rate: `burst` requests take burst/rate windows.
    const burstWindow = Math.max(1, Math.ceil((spec.burst / spec.points) * spec.windowSecs));
    const limiter = spec.burst > 0 ? new BurstyRateLimiter(main, new RateLimiterMemory({ points: spec.burst, duration: burstWindow, keyPrefix: `mp:${prefix}:burst` })) : main;
    return { name, spec, consume: (key) => limiter.consume(key) };
  }
}

async function take(limiter: Limiter, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (result) {
    if (result instanceof RateLimiterRes) throw limited(limiter, key, result);
    throw result;
  }
}

function limited(limiter: Limiter, key: string, result: RateLimiterRes): ModelportError {
  const { points, windowSecs, burst } = limiter.spec;
  const retryAfterMs = Math.max(1, result.msBeforeNext);
  const error = mpError(
    'MP_ERR_RATE_LIMITED',
    `rate limit '${limiter.name}' reached for ${key}: ${points} requests per ${windowSecs} s${burst > 0 ? ` (+${burst} burst)` : ''}; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
  );
  error.retry = { retryAfterMs, policy: { name: limiter.name, limit: points, windowSecs, remaining: Math.max(0, result.remainingPoints) } };
  return error;
}
