/** Per-arm counters, merging replicas' samples and histogram percentiles. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LATENCY_BUCKETS_MS, type ArmSample } from '../core/index.js';
import { ArmCounters, emptyArmCounts, LATENCY_BUCKET_COUNT, latencyBucketIndex, mergeSamples, OVERFLOW_LATENCY_MS, percentileMs } from './arm-window.js';

const bucketsWith = (entries: Record<number, number>): number[] => {
  const buckets = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  for (const [index, count] of Object.entries(entries)) buckets[Number(index)] = count;
  return buckets;
};

test('latencies land in the bucket of the first bound they do not exceed', () => {
  assert.equal(latencyBucketIndex(0), 0);
  assert.equal(latencyBucketIndex(-3), 0);
  assert.equal(latencyBucketIndex(1), 0);
  assert.equal(latencyBucketIndex(1.0001), 1);
  assert.equal(latencyBucketIndex(7.5), LATENCY_BUCKETS_MS.indexOf(7.5));
  assert.equal(latencyBucketIndex(8), LATENCY_BUCKETS_MS.indexOf(10));
  assert.equal(latencyBucketIndex(10_000), LATENCY_BUCKETS_MS.length - 1);
  assert.equal(latencyBucketIndex(10_000.1), LATENCY_BUCKETS_MS.length);
  assert.equal(latencyBucketIndex(Number.NaN), LATENCY_BUCKETS_MS.length);
  assert.equal(latencyBucketIndex(Infinity), LATENCY_BUCKETS_MS.length);
  for (const [index, bound] of LATENCY_BUCKETS_MS.entries()) assert.equal(latencyBucketIndex(bound), index);
});

test('ArmCounters counts requests, errors and latencies per arm; snapshots are copies', () => {
  const counters = new ArmCounters();
  counters.record('stable', true, 4);
  counters.record('stable', false, 4.5);
  counters.record('canary', true, 20_000);
  const snapshot = counters.snapshot();
  assert.deepEqual([...snapshot.keys()], ['stable', 'canary']);
  assert.deepEqual(snapshot.get('stable'), { requests: 2, errors: 1, latencyBuckets: bucketsWith({ [LATENCY_BUCKETS_MS.indexOf(5)]: 2 }) });
  assert.deepEqual(snapshot.get('canary'), { requests: 1, errors: 0, latencyBuckets: bucketsWith({ [LATENCY_BUCKET_COUNT - 1]: 1 }) });
  counters.record('stable', true, 1);
  assert.equal(snapshot.get('stable')!.requests, 2);
  assert.equal(counters.counts('stable').requests, 3);
  assert.deepEqual(counters.counts('nobody'), emptyArmCounts());
  counters.reset();
  assert.equal(counters.snapshot().size, 0);
});

test('mergeSamples sums each arm across replicas', () => {
  const sample = (replica: string, arm: string, requests: number, errors: number, buckets: number[]): ArmSample => ({ rolloutId: 'r', step: 0, replica, arm, requests, errors, latencyBuckets: buckets });
  const merged = mergeSamples([
    sample('a', 'canary', 10, 1, bucketsWith({ 0: 4, 3: 6 })),
    sample('b', 'canary', 5, 2, bucketsWith({ 3: 5 })),
    sample('a', 'stable', 100, 0, bucketsWith({ 1: 100 })),
    // A replica with a longer layout: the extra buckets fold into overflow.
    sample('c', 'stable', 2, 0, [...bucketsWith({}), 1, 1]),
  ]);
  assert.deepEqual(merged.get('canary'), { requests: 15, errors: 3, latencyBuckets: bucketsWith({ 0: 4, 3: 11 }) });
  assert.deepEqual(merged.get('stable'), { requests: 102, errors: 0, latencyBuckets: bucketsWith({ 1: 100, [LATENCY_BUCKET_COUNT - 1]: 2 }) });
  assert.equal(mergeSamples([]).size, 0);
});

test('percentileMs returns the upper bound of the bucket holding the quantile', () => {
  assert.equal(percentileMs(bucketsWith({}), 0.99), null);
  assert.equal(percentileMs([], 0.5), null);
  // 99 requests ≤ 1 ms and one at ≤ 100 ms: p99 is the 99th request, p100 the slow one.
  const buckets = bucketsWith({ 0: 99, [LATENCY_BUCKETS_MS.indexOf(100)]: 1 });
  assert.equal(percentileMs(buckets, 0.99), 1);
  assert.equal(percentileMs(buckets, 0.995), 100);
  assert.equal(percentileMs(buckets, 1), 100);
  assert.equal(percentileMs(buckets, 0.5), 1);
  // 98 fast and 2 slow: p99 is slow.
  assert.equal(percentileMs(bucketsWith({ 0: 98, 11: 2 }), 0.99), LATENCY_BUCKETS_MS[11]);
  // Float noise must not push the rank up: 0.07 × 100 is 7.000000000000001.
  assert.equal(percentileMs(bucketsWith({ 0: 7, 5: 93 }), 0.07), 1);
  assert.equal(percentileMs(bucketsWith({ 2: 1 }), 0.99), 3);
  assert.equal(percentileMs(bucketsWith({ [LATENCY_BUCKET_COUNT - 1]: 5 }), 0.99), OVERFLOW_LATENCY_MS);
  assert.equal(OVERFLOW_LATENCY_MS, 20_000);
});

test('percentiles of recorded latencies never understate them', () => {
  const counters = new ArmCounters();
  const latencies: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const latency = (i % 97) * 1.7 + (i % 13);
    latencies.push(latency);
    counters.record('arm', true, latency);
  }
  latencies.sort((a, b) => a - b);
  const p99 = percentileMs(counters.counts('arm').latencyBuckets, 0.99)!;
  const exact = latencies[Math.ceil(0.99 * latencies.length) - 1]!;
  assert.ok(p99 >= exact, `${p99} < ${exact}`);
  const index = LATENCY_BUCKETS_MS.indexOf(p99 as (typeof LATENCY_BUCKETS_MS)[number]);
  assert.ok(index === 0 || LATENCY_BUCKETS_MS[index - 1]! < exact, 'p99 is the bucket holding the exact value');
});
