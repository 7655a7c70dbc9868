/**
 * Entry to the registry store: picks the engine from a URL, opens it and brings its schema up to
 * date. The only folder that may touch better-sqlite3, pg and kysely.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isModelportError, mpError, type Logger } from '../../core/index.js';
import type { RegistryStore } from '../registry-store.js';
import type { KyselyRegistryStore } from './kysely-registry-store.js';

export type { RegistryStoreOptions } from './kysely-registry-store.js';

/**
 * The store and its database drivers (kysely, pg, better-sqlite3: a third of a second to load) are
 * loaded when a registry is opened, not by every command that imports the repository.
 */
const loadStore = async (): Promise<typeof KyselyRegistryStore> => (await import('./kysely-registry-store.js')).KyselyRegistryStore;

type StoreLocation = { engine: 'sqlite'; path: string } | { engine: 'postgres'; url: string };

/**
 * `sqlite:/abs/path/registry.db` (also `sqlite:///abs/…`, `file:` URLs, `sqlite::memory:`), a plain
 * path ending in .db, .sqlite or .sqlite3, or `postgres://…` / `postgresql://…`.
 */
export function parseRegistryUrl(url: string): StoreLocation {
  if (/^postgres(ql)?:\/\//i.test(url)) return { engine: 'postgres', url };
  if (/^sqlite::memory:$/i.test(url)) return { engine: 'sqlite', path: ':memory:' };
  if (/^sqlite:/i.test(url)) {
    // sqlite:///abs and sqlite:/abs both mean /abs; sqlite://host/… has no meaning for a file.
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path.length === 0 || path.startsWith('//')) throw badUrl(url);
    return { engine: 'sqlite', path: resolve(path) };
  }
  if (/^file:/i.test(url)) return { engine: 'sqlite', path: fileURLToPath(url) };
  if (/\.(db|sqlite3?)$/i.test(url) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return { engine: 'sqlite', path: resolve(url) };
  throw badUrl(url);
}

function badUrl(url: string): Error {
  return mpError(
    'MP_ERR_CONFIG_INVALID',
    `registry URL '${redact(url)}' is not understood: expected sqlite:/path/registry.db, a path ending in .db or .sqlite, or postgres://user:password@host:port/database`,
  );
}

/** The URL with its password masked, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

/** Opens the registry at `url` and migrates its schema; the caller closes it. */
export async function openRegistryStore(url: string, options: { logger?: Logger } = {}): Promise<RegistryStore> {
  const location = parseRegistryUrl(url);
  const KyselyRegistryStore = await loadStore();
  let store: KyselyRegistryStore;
  if (location.engine === 'sqlite') {
    if (location.path !== ':memory:') mkdirSync(dirname(location.path), { recursive: true });
    try {
      store = KyselyRegistryStore.sqlite(location.path, options);
    } catch (error) {
      throw mpError('MP_ERR_REGISTRY_UNAVAILABLE', `cannot open registry database ${location.path}: ${(error as Error).message}`, error);
    }
  } else {
    store = KyselyRegistryStore.postgres(location.url, options);
  }
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    // Whatever stops the first migration (bad password, no such host…) means no registry.
    if (isModelportError(error)) throw error;
    throw mpError('MP_ERR_REGISTRY_UNAVAILABLE', `cannot open registry ${redact(url)}: ${(error as Error).message}`, error);
  }
  options.logger?.debug({ engine: store.engine, url: redact(url) }, 'registry store open');
  return store;
}
