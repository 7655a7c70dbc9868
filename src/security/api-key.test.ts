import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiKeyId, generateApiKey, hashApiKey, keyMatches } from './api-key.js';

describe('API keys', () => {
  it('are 256 random bits behind a findable id, stored only as a digest', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    assert.match(a.key, /^mpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.key, b.key);
    assert.equal(apiKeyId(a.key), a.id);
    assert.equal(a.hash, hashApiKey(a.key));
    assert.ok(!a.hash.includes(a.key.slice(21)));
  });

  it('match only their own digest', () => {
    const { key, hash } = generateApiKey();
    assert.ok(keyMatches(key, hash));
    assert.ok(!keyMatches(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`, hash));
    assert.ok(!keyMatches(key, 'abcd'));
  });

  it('are told apart from other bearer tokens', () => {
    assert.equal(apiKeyId('eyJhbGciOiJSUzI1NiJ9.e30.sig'), undefined);
    assert.equal(apiKeyId('mpk_short_x'), undefined);
    assert.equal(apiKeyId(`mpk_0123456789abcdef_${'A'.repeat(43)} `), undefined);
  });
});
