import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isModelportError } from '../core/index.js';
import { generateApiKey, type ApiKeyRecord, type ApiKeyStore } from './api-key.js';
import { Authenticator } from './authenticator.js';
import type { Principal } from './roles.js';

/** Records in a Map: the seam's contract, counted, so that caching can be seen. */
class CountingKeys implements ApiKeyStore {
  readonly records = new Map<string, ApiKeyRecord>();
  lookups = 0;
  async createApiKey(record: ApiKeyRecord) {
    this.records.set(record.id, record);
  }
  async getApiKey(id: string) {
    this.lookups += 1;
    const record = this.records.get(id);
    return record && { ...record };
  }
  async listApiKeys() {
    return [...this.records.values()];
  }
  async revokeApiKey(id: string, at: string) {
    const record = this.records.get(id);
    if (record) record.revokedAt = at;
    return record !== undefined;
  }
}

function add(store: CountingKeys, overrides: Partial<ApiKeyRecord> = {}): string {
  const { id, key, hash } = generateApiKey();
  void store.createApiKey({ id, name: '', role: 'infer', models: null, hash, createdAt: '2026-01-01T00:00:00Z', createdBy: 't', expiresAt: null, revokedAt: null, ...overrides });
  return key;
}

async function code(run: () => Principal | Promise<Principal>): Promise<string> {
  try {
    await run();
  } catch (error) {
    assert.ok(isModelportError(error));
    return error.code;
  }
  return 'accepted';
}

describe('Authenticator', () => {
  it('finds a key, then answers from its cache synchronously', async () => {
    const keys = new CountingKeys();
    const key = add(keys, { models: ['mlp'] });
    const auth = new Authenticator({ keys });
    const first = await auth.authenticate(`Bearer ${key}`);
    assert.equal(first.role, 'infer');
    assert.deepEqual([...first.models!], ['mlp']);
    const second = auth.authenticate(`bearer ${key}`);
    assert.ok(!(second instanceof Promise));
    assert.equal(auth.authenticate(undefined, key) instanceof Promise, false);
    assert.equal(keys.lookups, 1);
  });

  it('makes one lookup for a burst of requests with a new key', async () => {
    const keys = new CountingKeys();
    const key = add(keys);
    const auth = new Authenticator({ keys });
    await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(`Bearer ${key}`)));
    assert.equal(keys.lookups, 1);
  });

  it('refuses missing, malformed, unknown, wrong, revoked and expired credentials', async () => {
    const keys = new CountingKeys();
    const auth = new Authenticator({ keys });
    const good = add(keys);
    assert.equal(await code(() => auth.authenticate(undefined)), 'MP_ERR_AUTH_REQUIRED');
    assert.equal(await code(() => auth.authenticate('Basic dXNlcjpwYXNz')), 'MP_ERR_AUTH_INVALID');
    assert.equal(await code(() => auth.authenticate('Bearer not-a-key')), 'MP_ERR_AUTH_INVALID');
    assert.equal(await code(() => auth.authenticate(`Bearer ${good.slice(0, -2)}xx`)), 'MP_ERR_AUTH_INVALID');
    assert.equal(await code(() => auth.authenticate(`Bearer mpk_0123456789abcdef_${'A'.repeat(43)}`)), 'MP_ERR_AUTH_INVALID');
    const revoked = add(keys, { revokedAt: '2026-02-01T00:00:00Z' });
    assert.equal(await code(() => auth.authenticate(`Bearer ${revoked}`)), 'MP_ERR_AUTH_INVALID');
    const expired = add(keys, { expiresAt: '2020-01-01T00:00:00Z' });
    assert.equal(await code(() => auth.authenticate(`Bearer ${expired}`)), 'MP_ERR_AUTH_INVALID');
  });

  it('notices a revocation once the cached answer is older than five seconds', async () => {
    const keys = new CountingKeys();
    const key = add(keys);
    let now = 1_000_000;
    const auth = new Authenticator({ keys, now: () => now });
    await auth.authenticate(`Bearer ${key}`);
    await keys.revokeApiKey([...keys.records.keys()][0]!, '2026-03-01T00:00:00Z');
    now += 4_000;
    assert.equal(await code(() => auth.authenticate(`Bearer ${key}`)), 'accepted');
    now += 1_500;
    assert.equal(await code(() => auth.authenticate(`Bearer ${key}`)), 'MP_ERR_AUTH_INVALID');
  });

  it('says which credentials it accepts', () => {
    assert.throws(() => new Authenticator({}).authenticate(undefined), /with nothing/);
    assert.throws(() => new Authenticator({ keys: new CountingKeys() }).authenticate(undefined), /with an API key/);
  });
});
