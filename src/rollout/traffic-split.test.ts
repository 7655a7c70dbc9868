/** Traffic split: rules, sticky hashing, weighted chance, monotonicity as a canary grows, shadow sampling. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RoutingSpec } from '../core/index.js';
import type { RouteKey } from './serving-router.js';
import { fnv1aUtf8, stickyPercent, TrafficSplit } from './traffic-split.js';

const noKey: RouteKey = { header: () => undefined, parameter: () => undefined };
const headers = (values: Record<string, string>): RouteKey => ({ header: (name) => values[name], parameter: () => undefined });
const parameters = (values: Record<string, string>): RouteKey => ({ header: () => undefined, parameter: (name) => values[name] });

const split = (canaryWeight: number, extra: Partial<RoutingSpec> = {}): RoutingSpec => ({
  seed: 'rollout-1',
  // Stable listed first on purpose: the layout puts it last whatever the spec order.
  arms: [{ name: 'stable', version: 1, weight: 100 - canaryWeight }, { name: 'canary', version: 2, weight: canaryWeight }],
  ...extra,
});

/** A deterministic [0, 1) source (mulberry32), so the statistical tests cannot flake. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('a 10/90 split lands within ±1 percentage point over 20,000 random picks', () => {
  for (const random of [seeded(42), seeded(7), Math.random]) {
    const traffic = new TrafficSplit(split(10), random);
    let canary = 0;
    for (let i = 0; i < 20_000; i++) if (traffic.pick(noKey).name === 'canary') canary++;
    const share = (canary / 20_000) * 100;
    assert.ok(Math.abs(share - 10) <= 1, `canary share ${share}%`);
  }
});

test('sticky keys spread like the weights and always map to the same arm', () => {
  const traffic = new TrafficSplit(split(10, { sticky: { header: 'x-key' } }), () => {
    throw new Error('sticky picks must not draw random numbers');
  });
  let canary = 0;
  for (let i = 0; i < 20_000; i++) {
    const key = headers({ 'x-key': `user-${i}` });
    const arm = traffic.pick(key).name;
    if (arm === 'canary') canary++;
    assert.equal(traffic.pick(key).name, arm);
  }
  const share = (canary / 20_000) * 100;
  assert.ok(Math.abs(share - 10) <= 1, `sticky canary share ${share}%`);

  // The same seed gives the same assignment in another process (a new split); a new seed reshuffles.
  const again = new TrafficSplit(split(10, { sticky: { header: 'x-key' } }));
  const reseeded = new TrafficSplit(split(10, { seed: 'rollout-2', sticky: { header: 'x-key' } }));
  let moved = 0;
  for (let i = 0; i < 2000; i++) {
    const key = headers({ 'x-key': `user-${i}` });
    assert.equal(again.pick(key).name, traffic.pick(key).name);
    if (reseeded.stickyPoint(`user-${i}`) !== traffic.stickyPoint(`user-${i}`)) moved++;
  }
  assert.ok(moved > 1900);
});

test('sticky parameter works; requests without a key (or an empty one) fall back to chance', () => {
  const traffic = new TrafficSplit(split(50, { sticky: { parameter: 'user' } }), () => 0.99);
  const point = traffic.stickyPoint('alice');
  const expected = point < 50 ? 'canary' : 'stable';
  for (let i = 0; i < 5; i++) assert.equal(traffic.pick(parameters({ user: 'alice' })).name, expected);
  assert.equal(traffic.pick(noKey).name, 'stable'); // 99 falls in stable's range [50, 100)
  assert.equal(traffic.pick(parameters({ user: '' })).name, 'stable');
  assert.equal(new TrafficSplit(split(50, { sticky: { parameter: 'user' } }), () => 0.1).pick(noKey).name, 'canary');
});

test('growing the canary weight keeps every key that was on the canary there', () => {
  const weights = [1, 10, 25, 50, 75, 100];
  const splits = weights.map((w) => new TrafficSplit(split(w, { sticky: { header: 'x-key' } })));
  const onCanary = splits.map(() => 0);
  for (let i = 0; i < 10_000; i++) {
    const key = headers({ 'x-key': `k${i}` });
    let wasCanary = false;
    splits.forEach((traffic, step) => {
      const isCanary = traffic.pick(key).name === 'canary';
      if (wasCanary) assert.ok(isCanary, `key k${i} left the canary when its weight grew to ${weights[step]}`);
      wasCanary = isCanary;
      if (isCanary) onCanary[step]!++;
    });
  }
  assert.equal(onCanary[onCanary.length - 1], 10_000);
  weights.forEach((w, step) => assert.ok(Math.abs(onCanary[step]! / 100 - w) <= 1.5, `weight ${w}: ${onCanary[step]! / 100}%`));
});

test('arm layout: non-stable arms first in spec order, stable last; zero weights never picked', () => {
  const traffic = new TrafficSplit({
    seed: 's',
    arms: [{ name: 'stable', version: 1, weight: 60 }, { name: 'a', version: 2, weight: 30 }, { name: 'dark', version: 3, weight: 0 }, { name: 'b', version: 4, weight: 10 }],
  });
  assert.equal(traffic.armAt(0).name, 'a');
  assert.equal(traffic.armAt(29.999).name, 'a');
  assert.equal(traffic.armAt(30).name, 'b');
  assert.equal(traffic.armAt(39.999).name, 'b');
  assert.equal(traffic.armAt(40).name, 'stable');
  assert.equal(traffic.armAt(99.999999).name, 'stable');
  const random = seeded(3);
  const zero = new TrafficSplit({ seed: 's', arms: [{ name: 'stable', version: 1, weight: 100 }, { name: 'dark', version: 2, weight: 0 }] }, random);
  for (let i = 0; i < 1000; i++) assert.equal(zero.pick(noKey).name, 'stable');
  const allCanary = new TrafficSplit(split(100), random);
  for (let i = 0; i < 1000; i++) assert.equal(allCanary.pick(noKey).name, 'canary');
});

test('weights summing to just under 100 still give every point an arm', () => {
  const traffic = new TrafficSplit({ seed: 's', arms: [{ name: 'stable', version: 1, weight: 33.3 }, { name: 'a', version: 2, weight: 33.3 }, { name: 'b', version: 3, weight: 33.4 - 1e-10 }] });
  assert.equal(traffic.armAt(99.99999999999).name, 'stable');
});

test('the first matching rule wins over stickiness and weights', () => {
  const spec = split(10, {
    sticky: { header: 'x-key' },
    rules: [
      { header: 'x-canary', equals: 'yes', arm: 'canary' },
      { parameter: 'arm', equals: 'stable', arm: 'stable' },
      { header: 'x-canary', equals: 'no', arm: 'stable' },
    ],
  });
  const traffic = new TrafficSplit(spec, () => 0); // chance alone would always say canary
  const key = (h: Record<string, string>, p: Record<string, string>): RouteKey => ({ header: (n) => h[n], parameter: (n) => p[n] });
  assert.equal(traffic.pick(key({ 'x-canary': 'yes' }, { arm: 'stable' })).name, 'canary');
  assert.equal(traffic.pick(key({ 'x-canary': 'no' }, {})).name, 'stable');
  assert.equal(traffic.pick(key({}, { arm: 'stable' })).name, 'stable');
  assert.equal(traffic.pick(key({ 'x-canary': 'YES' }, {})).name, 'canary'); // no rule matched: chance (0) → canary
  // A rule reaches a zero-weight arm.
  const dark = new TrafficSplit({ seed: 's', arms: [{ name: 'stable', version: 1, weight: 100 }, { name: 'dark', version: 2, weight: 0 }], rules: [{ header: 'x-dark', equals: '1', arm: 'dark' }] });
  assert.equal(dark.pick(headers({ 'x-dark': '1' })).name, 'dark');
  assert.equal(dark.pick(noKey).name, 'stable');
});

test('shadowSample mirrors the configured share, never without a shadow', () => {
  const random = seeded(11);
  const traffic = new TrafficSplit(split(10, { shadow: { version: 3, percent: 5 } }), random);
  let mirrored = 0;
  for (let i = 0; i < 20_000; i++) if (traffic.shadowSample()) mirrored++;
  assert.ok(Math.abs((mirrored / 20_000) * 100 - 5) <= 0.5, `mirrored ${mirrored}`);
  const none = new TrafficSplit(split(10), () => 0);
  assert.equal(none.shadowSample(), false);
  const all = new TrafficSplit(split(10, { shadow: { version: 3, percent: 100 } }), () => 0.9999999);
  assert.equal(all.shadowSample(), true);
});

test('the hash is FNV-1a over UTF-8, so non-ASCII keys hash as their bytes', () => {
  const reference = (text: string): number => {
    let h = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193);
    return h >>> 0;
  };
  for (const text of ['', 'a', 'foobar', 'héllo', '日本語', 'emoji 😀 key', 'lone \ud800 surrogate', 'end \udc00']) {
    assert.equal(fnv1aUtf8(0x811c9dc5, text), reference(text), text);
  }
  assert.equal(fnv1aUtf8(0x811c9dc5, 'a'), 0xe40c292c); // published FNV-1a test vector
  const point = stickyPercent('seed', 'key');
  assert.ok(point >= 0 && point < 100);
  assert.equal(stickyPercent('seed', 'key'), point);
  assert.notEqual(stickyPercent('see', 'dkey'), point); // the separator keeps seed and key apart
});
