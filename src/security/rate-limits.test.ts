import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isModelportError } from '../core/index.js';
import { RateLimits, parseRateSpec } from './rate-limits.js';
import type { Principal } from './roles.js';

const alice: Principal = { id: 'key:alice', role: 'infer' };
const bob: Principal = { id: 'key:bob', role: 'infer' };

async function outcomes(limits: RateLimits, calls: Array<[Principal, string]>): Promise<string[]> {
  const results: string[] = [];
  for (const [principal, model] of calls) {
    try {
      await limits.consume(principal, model);
      results.push('ok');
    } catch (error) {
      assert.ok(isModelportError(error));
      results.push(error.code === 'MP_ERR_RATE_LIMITED' ? 'limited' : error.code);
    }
  }
  return results;
}

describe('parseRateSpec', () => {
  it('reads RATE/UNIT with an optional burst', () => {
    assert.deepEqual(parseRateSpec('100/s'), { points: 100, windowSecs: 1, burst: 0 });
    assert.deepEqual(parseRateSpec(' 3000 / m , burst=200 '), { points: 3000, windowSecs: 60, burst: 200 });
    assert.deepEqual(parseRateSpec('5/h'), { points: 5, windowSecs: 3600, burst: 0 });
    for (const bad of ['', '0/s', '10', '10/d', '-1/s', '1.5/s', '10/s,burst']) assert.equal(parseRateSpec(bad), undefined, bad);
  });
});

describe('RateLimits', () => {
  it('limits each credential on its own', async () => {
    const limits = new RateLimits({ perPrincipal: { points: 3, windowSecs: 60, burst: 0 } });
    assert.deepEqual(await outcomes(limits, [[alice, 'm'], [alice, 'm'], [alice, 'm'], [alice, 'm'], [bob, 'm']]), ['ok', 'ok', 'ok', 'limited', 'ok']);
  });

  it('limits a named model, and every other model through "*"', async () => {
    const limits = new RateLimits({ perModel: { big: { points: 1, windowSecs: 60, burst: 0 }, '*': { points: 2, windowSecs: 60, burst: 0 } } });
    assert.deepEqual(await outcomes(limits, [[alice, 'big'], [bob, 'big'], [alice, 'x'], [bob, 'x'], [alice, 'x'], [alice, 'y']]), ['ok', 'limited', 'ok', 'ok', 'limited', 'ok']);
  });

  it('lets a burst through above the sustained rate', async () => {
    const limits = new RateLimits({ perPrincipal: { points: 2, windowSecs: 60, burst: 2 } });
    assert.deepEqual(await outcomes(limits, Array.from({ length: 5 }, () => [alice, 'm'] as [Principal, string])), ['ok', 'ok', 'ok', 'ok', 'limited']);
  });

  it('tells the client when to retry and which limit refused it', async () => {
    const limits = new RateLimits({ perPrincipal: { points: 1, windowSecs: 60, burst: 0 } });
    await limits.consume(alice, 'm');
    await assert.rejects(limits.consume(alice, 'm'), (error: unknown) => {
      assert.ok(isModelportError(error));
      assert.match(error.message, /rate limit 'per-credential' reached for key:alice: 1 requests per 60 s/);
      assert.ok(error.retry!.retryAfterMs > 55_000 && error.retry!.retryAfterMs <= 60_000);
      assert.deepEqual(error.retry!.policy, { name: 'per-credential', limit: 1, windowSecs: 60, remaining: 0 });
      return true;
    });
  });

  it('is off when nothing is configured', () => {
    assert.equal(new RateLimits({}).enabled, false);
  });
});
