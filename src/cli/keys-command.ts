/**
 * `modelport keys create|list|revoke`: API keys, written straight into the registry database (the
 * server's SQLite file or the shared Postgres), so the first admin key can be made before anyone
 * can call the server. A new key is printed once; only its SHA-256 is stored. A running server
 * sees a new key at once and a revocation within seconds (it caches valid keys for 5 s).
 */
import { resolve } from 'node:path';
import { userInfo } from 'node:os';
import { Option, type Command } from 'commander';
import type { RegistryStore } from '../repository/index.js';
import type { ApiKeyRecord, Role } from '../security/index.js';
import { EXIT_USAGE, reportFailure } from './exit.js';
import { printJson, printLines } from './management-client.js';
import { formatTable } from './table.js';

interface StoreFlags {
  registry?: string;
  modelRepository?: string;
  json?: boolean;
}

interface CreateFlags extends StoreFlags {
  role: Role;
  models?: string;
  name?: string;
  expiresIn?: string;
}

const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** The roles --role offers; a copy, so that the security module loads only when a key is made (startup.test.ts keeps it equal). */
export const KEY_ROLES: readonly Role[] = ['infer', 'read', 'admin'];

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys (in the registry database)');

  storeOptions(
    keys
      .command('create')
      .description('create an API key and print it (once)')
      .addOption(new Option('--role <role>', 'infer: inference and model metadata; read: metadata, statistics, metrics; admin: everything').choices([...KEY_ROLES]).makeOptionMandatory())
      .option('--models <list>', 'infer keys: only these models (comma-separated)')
      .option('--name <text>', 'what the key is for (shown by keys list)')
      .option('--expires-in <duration>', 'lifetime, e.g. 12h, 30d (default: until revoked)'),
  ).action(async (flags: CreateFlags) => {
    let models: string[] | null = null;
    let expiresAt: string | null = null;
    try {
      if (flags.models !== undefined) {
        models = flags.models.split(',').map((m) => m.trim()).filter(Boolean);
        const bad = models.find((m) => !MODEL_NAME.test(m));
        if (models.length === 0 || bad !== undefined) throw new Error(`--models: expected comma-separated model names${bad ? `, got '${bad}'` : ''}`);
        if (flags.role !== 'infer') throw new Error(`--models limits 'infer' keys only; a '${flags.role}' key acts on every model`);
      }
      if (flags.expiresIn !== undefined) expiresAt = new Date(Date.now() + duration(flags.expiresIn)).toISOString();
    } catch (error) {
      reportFailure(error, EXIT_USAGE);
      return;
    }
    await withStore(flags, async (store) => {
      const { generateApiKey } = await import('../security/index.js');
      const { id, key, hash } = generateApiKey();
      const record: ApiKeyRecord = {
        id,
        name: flags.name ?? '',
        role: flags.role,
        models,
        hash,
        createdAt: new Date().toISOString(),
        createdBy: actor(),
        expiresAt,
        revokedAt: null,
      };
      await store.createApiKey(record);
      if (flags.json) {
        printJson({ id, key, role: record.role, models, name: record.name, expiresAt });
        return;
      }
      printLines(key, '', `API key ${id}: role ${record.role}${models ? ` on ${models.join(', ')}` : ''}${expiresAt ? `, expires ${expiresAt}` : ''}.`, 'It is shown only now; send it as "Authorization: Bearer <key>" (the CLI reads $MODELPORT_TOKEN).');
    });
  });

  storeOptions(keys.command('list').description('list API keys (never the keys themselves)')).action(async (flags: StoreFlags) => {
    await withStore(flags, async (store) => {
      const records = await store.listApiKeys();
      if (flags.json) {
        printJson(records.map(({ hash: _hash, ...rest }) => rest));
        return;
      }
      const now = Date.now();
      const state = (r: ApiKeyRecord) => (r.revokedAt ? `revoked ${r.revokedAt}` : r.expiresAt && Date.parse(r.expiresAt) <= now ? `expired ${r.expiresAt}` : 'active');
      process.stdout.write(formatTable(['ID', 'ROLE', 'MODELS', 'NAME', 'CREATED', 'BY', 'STATE'], records.map((r) => [r.id, r.role, r.models?.join(',') ?? '*', r.name, r.createdAt, r.createdBy, state(r)])));
    });
  });

  storeOptions(keys.command('revoke').description('revoke an API key').argument('<id>', 'key id (from keys list)')).action(async (id: string, flags: StoreFlags) => {
    await withStore(flags, async (store) => {
      if (!(await store.revokeApiKey(id, new Date().toISOString()))) throw new Error(`no API key with id '${id}'`);
      if (flags.json) printJson({ id, revoked: true });
      else printLines(`API key ${id} revoked`);
    });
  });
}

function storeOptions(command: Command): Command {
  return command
    .option('--registry <url>', 'registry database: sqlite:<file> or postgres://… (default: the one of --model-repository)')
    .option('--model-repository <dir>', "the server's model repository, whose .modelport/registry.db holds the keys (default: models)")
    .option('--json', 'print JSON');
}

async function withStore(flags: StoreFlags, work: (store: RegistryStore) => Promise<void>): Promise<void> {
  const url =
    flags.registry ??
    process.env.MODELPORT_REGISTRY ??
    `sqlite:${resolve(flags.modelRepository ?? process.env.MODELPORT_MODEL_REPOSITORY ?? 'models', '.modelport', 'registry.db')}`;
  let store: RegistryStore | undefined;
  try {
    if (url === 'off') throw new Error('the server runs without a registry (--registry off): API keys need one');
    const { openRegistryStore } = await import('../repository/index.js');
    store = await openRegistryStore(url);
    await work(store);
  } catch (error) {
    reportFailure(error);
  } finally {
    await store?.close();
  }
}

/** 90d, 12h, 30m, 45s → milliseconds. */
function duration(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (match === null || Number(match[1]) === 0) throw new Error(`--expires-in: expected a duration such as 30d, 12h or 15m, got '${text}'`);
  return Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

function actor(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
