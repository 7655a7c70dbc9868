/** Rollout step verdicts and rollout policy validation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isModelportError, LATENCY_BUCKETS_MS, type RolloutPolicy } from '../core/index.js';
import { LATENCY_BUCKET_COUNT, type ArmCounts } from './arm-window.js';
import { defaultRolloutPolicy, judgeInterval, validateRolloutPolicy } from './rollout-judge.js';

/** `requests` requests with `errors` failures, all in the bucket whose bound is `latencyMs`. */
const arm = (requests: number, errors = 0, latencyMs = 10): ArmCounts => {
  const latencyBuckets = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  const index = LATENCY_BUCKETS_MS.indexOf(latencyMs as (typeof LATENCY_BUCKETS_MS)[number]);
  assert.ok(index >= 0, `${latencyMs} is a bucket bound`);
  latencyBuckets[index] = requests;
  return { requests, errors, latencyBuckets };
};

const policy = (overrides: Partial<RolloutPolicy> = {}): RolloutPolicy => ({ ...defaultRolloutPolicy(), ...overrides });

test('waits for enough canary requests, even after the interval', () => {
  const result = judgeInterval({ policy: policy(), canary: arm(12, 12), stable: arm(500), intervalElapsed: true });
  assert.equal(result.verdict, 'wait');
  assert.equal(result.reason, 'only 12 canary requests, 50 needed');
  assert.equal(result.canaryErrorRate, 1);
  assert.equal(judgeInterval({ policy: policy(), canary: arm(0), stable: arm(0), intervalElapsed: true }).canaryErrorRate, null);
  assert.equal(judgeInterval({ policy: policy(), canary: arm(1), stable: arm(0), intervalElapsed: false }).reason, 'only 1 canary request, 50 needed');
});

test('an error-rate breach is declared before the interval ends', () => {
  const result = judgeInterval({ policy: policy(), canary: arm(200, 25), stable: arm(1000, 1), intervalElapsed: false });
  assert.equal(result.verdict, 'breach');
  assert.equal(result.reason, 'canary error rate 12.5% (25 of 200) exceeds the limit 1%');
  assert.equal(result.canaryErrorRate, 0.125);
  assert.equal(result.stableErrorRate, 0.001);
  // Exactly at the limit is not a breach.
  assert.equal(judgeInterval({ policy: policy(), canary: arm(200, 2), stable: arm(1000), intervalElapsed: true }).verdict, 'pass');
  // maxErrorRate 0 tolerates no error at all.
  assert.equal(judgeInterval({ policy: policy({ maxErrorRate: 0 }), canary: arm(200, 1), stable: arm(1000), intervalElapsed: false }).verdict, 'breach');
});

test('an absolute p99 limit breaches when exceeded', () => {
  const result = judgeInterval({ policy: policy({ maxP99Ms: 100 }), canary: arm(100, 0, 150), stable: arm(10, 0, 150), intervalElapsed: false });
  assert.equal(result.verdict, 'breach');
  assert.equal(result.reason, 'canary p99 latency 150 ms exceeds the limit 100 ms');
  assert.equal(result.canaryP99Ms, 150);
  assert.equal(judgeInterval({ policy: policy({ maxP99Ms: 100 }), canary: arm(100, 0, 100), stable: arm(10), intervalElapsed: true }).verdict, 'pass');
});

test('the latency ratio to stable breaches only with enough stable traffic and a real difference', () => {
  const slow = judgeInterval({ policy: policy(), canary: arm(100, 0, 50), stable: arm(100, 0, 20), intervalElapsed: false });
  assert.equal(slow.verdict, 'breach');
  assert.equal(slow.reason, "canary p99 latency 50 ms is more than 2× the stable arm's 20 ms");
  assert.equal(slow.stableP99Ms, 20);
  // Too little stable traffic to compare against.
  assert.equal(judgeInterval({ policy: policy(), canary: arm(100, 0, 50), stable: arm(49, 0, 20), intervalElapsed: true }).verdict, 'pass');
  // 3 ms against 1 ms is three times as slow but only 2 ms apart: no flapping on tiny latencies.
  assert.equal(judgeInterval({ policy: policy(), canary: arm(100, 0, 3), stable: arm(100, 0, 1), intervalElapsed: true }).verdict, 'pass');
  // 7.5 against 2 ms: ratio and difference both exceeded.
  assert.equal(judgeInterval({ policy: policy(), canary: arm(100, 0, 7.5), stable: arm(100, 0, 2), intervalElapsed: true }).verdict, 'breach');
  // Exactly twice as slow is within a ratio of 2.
  assert.equal(judgeInterval({ policy: policy(), canary: arm(100, 0, 100), stable: arm(100, 0, 50), intervalElapsed: true }).verdict, 'pass');
});

test('passes only when the interval is over, with enough requests and no breach', () => {
  const waiting = judgeInterval({ policy: policy(), canary: arm(100, 1), stable: arm(900), intervalElapsed: false });
  assert.deepEqual({ verdict: waiting.verdict, reason: waiting.reason }, { verdict: 'wait', reason: 'interval not over' });
  const passed = judgeInterval({ policy: policy(), canary: arm(100, 1), stable: arm(900), intervalElapsed: true });
  assert.equal(passed.verdict, 'pass');
  assert.equal(passed.reason, 'canary error rate 1% (1 of 100), p99 10 ms (stable 10 ms) within the limits');
  // The last step: the canary has all traffic and stable none.
  const full = judgeInterval({ policy: policy(), canary: arm(100), stable: arm(0), intervalElapsed: true });
  assert.equal(full.verdict, 'pass');
  assert.equal(full.stableP99Ms, null);
  assert.equal(full.stableErrorRate, null);
});

test('defaultRolloutPolicy returns a fresh copy', () => {
  const a = defaultRolloutPolicy();
  assert.deepEqual(a, { steps: [10, 25, 50, 100], intervalMs: 30_000, maxErrorRate: 0.01, maxLatencyRatio: 2, minRequests: 50 });
  a.steps.push(1);
  assert.deepEqual(defaultRolloutPolicy().steps, [10, 25, 50, 100]);
});

test('validateRolloutPolicy completes a partial policy with the defaults', () => {
  assert.deepEqual(validateRolloutPolicy({}), defaultRolloutPolicy());
  assert.deepEqual(validateRolloutPolicy({ steps: [50, 100], maxP99Ms: 250, minRequests: 10 }), { ...defaultRolloutPolicy(), steps: [50, 100], maxP99Ms: 250, minRequests: 10 });
  assert.deepEqual(validateRolloutPolicy({ steps: [100] }).steps, [100]);
  assert.equal('maxP99Ms' in validateRolloutPolicy({ maxP99Ms: null } as never), false);
  assert.equal(validateRolloutPolicy({ maxErrorRate: 0, maxLatencyRatio: 1, intervalMs: 100 }).maxErrorRate, 0);
});

test('validateRolloutPolicy refuses bad fields with MP_ERR_ROLLOUT_INVALID', () => {
  const cases: [unknown, RegExp][] = [
    [{ steps: [] }, /steps must be a non-empty array/],
    [{ steps: [10, 50] }, /the last step must be 100 .*got 50/],
    [{ steps: [50, 25, 100] }, /steps must be strictly ascending, got 50 then 25/],
    [{ steps: [50, 50, 100] }, /strictly ascending/],
    [{ steps: [0, 100] }, /steps\[0\] must be an integer above 0 and at most 100, got 0/],
    [{ steps: [12.5, 100] }, /steps\[0\] must be an integer/],
    [{ steps: [50, 150] }, /steps\[1\] .* got 150/],
    [{ intervalMs: 99 }, /intervalMs must be a number of milliseconds ≥ 100, got 99/],
    [{ intervalMs: '30s' }, /intervalMs .* got "30s"/],
    [{ maxErrorRate: 1.5 }, /maxErrorRate must be a fraction from 0 to 1/],
    [{ maxErrorRate: -0.1 }, /maxErrorRate/],
    [{ maxP99Ms: 0 }, /maxP99Ms must be a number of milliseconds above 0/],
    [{ maxP99Ms: 60_000 }, /at most 10000 .* got 60000/],
    [{ maxLatencyRatio: 0.5 }, /maxLatencyRatio must be a number ≥ 1, got 0.5/],
    [{ minRequests: 0 }, /minRequests must be an integer ≥ 1, got 0/],
    [{ minRequests: 2.5 }, /minRequests/],
    [{ interval: 5 }, /unknown field 'interval'; expected steps, intervalMs/],
  ];
  for (const [input, pattern] of cases) {
    assert.throws(() => validateRolloutPolicy(input as Partial<RolloutPolicy>), (error: unknown) => {
      assert.ok(isModelportError(error));
      assert.equal(error.code, 'MP_ERR_ROLLOUT_INVALID');
      assert.match(error.message, /^rollout policy: /);
      assert.match(error.message, pattern);
      return true;
    }, JSON.stringify(input));
  }
});
