/** Routing spec validation, normalisation and the dry-run diff. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isModelportError, type RoutingSpec } from '../core/index.js';
import { describeRoutingDiff, routingVersions, singleVersionRouting, stableArm, validateRoutingSpec } from './routing-spec.js';

const registered = new Set([1, 2, 3, 4]);
const validate = (input: unknown) => validateRoutingSpec('mlp', input, registered);

/** Asserts `fn` throws a ModelportError with `code` whose message matches `pattern`. */
function throwsCode(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isModelportError(error), `expected a ModelportError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

const canary = (extra: Record<string, unknown> = {}) => ({
  arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }],
  ...extra,
});

test('a valid spec is returned normalised, with a random seed when none was given', () => {
  const spec = validate(canary({ sticky: { header: 'X-ModelPort-Key' }, rules: [{ header: 'X-Canary', equals: 'yes', arm: 'canary' }], shadow: { version: 3, percent: 5 } }));
  assert.match(spec.seed, /^[0-9a-f-]{36}$/);
  assert.deepEqual(spec.arms, [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }]);
  assert.deepEqual(spec.sticky, { header: 'x-modelport-key' });
  assert.deepEqual(spec.rules, [{ header: 'x-canary', equals: 'yes', arm: 'canary' }]);
  assert.deepEqual(spec.shadow, { version: 3, percent: 5 });
  assert.notEqual(validate(canary()).seed, validate(canary()).seed);
  assert.equal(validate(canary({ seed: 'r1' })).seed, 'r1');
});

test('empty rules are dropped and absent options stay absent', () => {
  const spec = validate(canary({ seed: 's', rules: [] }));
  assert.deepEqual(spec, { seed: 's', arms: canary().arms });
  assert.deepEqual(Object.keys(spec), ['seed', 'arms']);
});

test('fractional weights summing to 100 within 1e-9 are accepted', () => {
  const spec = validate({ arms: [{ name: 'stable', version: 1, weight: 33.3 }, { name: 'a', version: 2, weight: 33.3 }, { name: 'b', version: 3, weight: 33.4 }] });
  assert.equal(spec.arms.length, 3);
  validate({ arms: [{ name: 'stable', version: 1, weight: 100 }, { name: 'dark', version: 2, weight: 0 }] });
});

test('arm problems name the arm and what was expected', () => {
  const invalid = 'MP_ERR_ROUTING_INVALID';
  throwsCode(() => validate(null), invalid, /^routing of model 'mlp': expected an object with "arms"/);
  throwsCode(() => validate({}), invalid, /arms must be a non-empty array of \{name, version, weight\}, got nothing/);
  throwsCode(() => validate({ arms: [] }), invalid, /arms must be a non-empty array/);
  throwsCode(() => validate({ arms: [5] }), invalid, /arms\[0\] must be an object/);
  throwsCode(() => validate({ arms: [{ name: 'bad name', version: 1, weight: 100 }] }), invalid, /arms\[0\]\.name must be .*got "bad name"/);
  throwsCode(() => validate({ arms: [{ name: 'stable', version: 0, weight: 100 }] }), invalid, /arm 'stable': version must be an integer > 0, got 0/);
  throwsCode(() => validate({ arms: [{ name: 'stable', version: 1.5, weight: 100 }] }), invalid, /version must be an integer > 0, got 1.5/);
  throwsCode(() => validate({ arms: [{ name: 'stable', version: 1, weight: '100' }] }), invalid, /arm 'stable': weight must be a number from 0 to 100, got "100"/);
  throwsCode(() => validate({ arms: [{ name: 'stable', version: 1, weight: 101 }] }), invalid, /weight must be a number from 0 to 100, got 101/);
  throwsCode(() => validate({ arms: [{ name: 'stable', version: 1, weight: Number.NaN }] }), invalid, /got NaN/);
  throwsCode(() => validate({ arms: [{ name: 'stable', version: 1, weight: 100, extra: 1 }] }), invalid, /unknown field 'extra' in arms\[0\]; expected name, version, weight/);
});

test('names unique, exactly one stable, weights sum to 100, one arm per version', () => {
  const invalid = 'MP_ERR_ROUTING_INVALID';
  throwsCode(
    () => validate({ arms: [{ name: 'stable', version: 1, weight: 50 }, { name: 'stable', version: 2, weight: 50 }] }),
    invalid, /arm name 'stable' is used more than once/,
  );
  throwsCode(
    () => validate({ arms: [{ name: 'a', version: 1, weight: 50 }, { name: 'b', version: 2, weight: 50 }] }),
    invalid, /no arm is named 'stable' \(arms: a, b\)/,
  );
  throwsCode(
    () => validate({ arms: [{ name: 'stable', version: 1, weight: 80 }, { name: 'canary', version: 2, weight: 10 }] }),
    invalid, /^routing of model 'mlp': arm weights sum to 90, expected 100$/,
  );
  throwsCode(
    () => validate({ arms: [{ name: 'stable', version: 1, weight: 50 }, { name: 'canary', version: 1, weight: 50 }] }),
    invalid, /arms 'stable' and 'canary' both serve version 1/,
  );
});

test('unknown versions are MP_ERR_MODEL_VERSION_UNKNOWN listing the registered ones', () => {
  throwsCode(
    () => validate({ arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 7, weight: 10 }] }),
    'MP_ERR_MODEL_VERSION_UNKNOWN', /arm 'canary' names version 7, which is not registered; registered versions: 1, 2, 3, 4/,
  );
  throwsCode(() => validate(canary({ shadow: { version: 9, percent: 5 } })), 'MP_ERR_MODEL_VERSION_UNKNOWN', /shadow names version 9/);
  throwsCode(() => validateRoutingSpec('mlp', canary(), new Set()), 'MP_ERR_MODEL_VERSION_UNKNOWN', /the model has no registered versions/);
  // A malformed spec is reported as malformed even when its versions are unknown too.
  throwsCode(() => validateRoutingSpec('mlp', { arms: [{ name: 'stable', version: 9, weight: 50 }] }, registered), 'MP_ERR_ROUTING_INVALID', /sum to 50/);
});

test('sticky, rules and shadow are checked', () => {
  const invalid = 'MP_ERR_ROUTING_INVALID';
  assert.deepEqual(validate(canary({ sticky: { parameter: 'user' } })).sticky, { parameter: 'user' });
  throwsCode(() => validate(canary({ sticky: {} })), invalid, /sticky must name exactly one of header or parameter, got neither/);
  throwsCode(() => validate(canary({ sticky: { header: 'a', parameter: 'b' } })), invalid, /got both/);
  throwsCode(() => validate(canary({ sticky: { header: 'bad header' } })), invalid, /sticky\.header must be an HTTP header name/);
  throwsCode(() => validate(canary({ sticky: { parameter: '' } })), invalid, /sticky\.parameter must be a non-empty string/);
  throwsCode(() => validate(canary({ sticky: 'x-key' })), invalid, /sticky must be an object/);
  throwsCode(() => validate(canary({ rules: {} })), invalid, /rules must be an array/);
  throwsCode(() => validate(canary({ rules: [{ header: 'x-a', equals: 'y', arm: 'blue' }] })), invalid, /rules\[0\]\.arm must name one of the arms \(stable, canary\), got "blue"/);
  throwsCode(() => validate(canary({ rules: [{ parameter: 'p', equals: 1, arm: 'canary' }] })), invalid, /rules\[0\]\.equals must be a string, got 1/);
  throwsCode(() => validate(canary({ rules: [{ equals: 'y', arm: 'canary' }] })), invalid, /rules\[0\] must name exactly one of header or parameter/);
  throwsCode(() => validate(canary({ shadow: { version: 3, percent: 0 } })), invalid, /shadow\.percent must be a number above 0 and at most 100, got 0/);
  throwsCode(() => validate(canary({ shadow: { version: 3, percent: 101 } })), invalid, /got 101/);
  throwsCode(() => validate(canary({ shadow: { version: 2, percent: 5 } })), invalid, /shadow version 2 is already served by arm 'canary'/);
  throwsCode(() => validate(canary({ shadow: { version: 3 } })), invalid, /shadow\.percent/);
});

test('unknown top-level fields are named', () => {
  throwsCode(() => validate(canary({ weights: 1, mirror: 2 })), 'MP_ERR_ROUTING_INVALID', /unknown fields 'weights', 'mirror' in the spec; expected seed, arms, sticky, rules, shadow/);
  throwsCode(() => validate(canary({ seed: '' })), 'MP_ERR_ROUTING_INVALID', /seed must be a non-empty string/);
});

test('diff lines describe every change, and nothing when equal', () => {
  const v1 = singleVersionRouting(1, 'seed-1');
  const split: RoutingSpec = { seed: 'seed-1', arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }] };
  assert.deepEqual(describeRoutingDiff(v1, v1), []);
  assert.deepEqual(describeRoutingDiff(split, structuredClone(split)), []);
  assert.deepEqual(describeRoutingDiff(v1, split), ['arm stable: weight 100 → 90', 'arm canary: added, version 2, weight 10']);
  assert.deepEqual(describeRoutingDiff(split, v1), ['arm stable: weight 90 → 100', 'arm canary: removed']);
  assert.deepEqual(describeRoutingDiff(undefined, v1), ['arm stable: added, version 1, weight 100']);
  assert.deepEqual(describeRoutingDiff(v1, singleVersionRouting(2, 'seed-1')), ['arm stable: version 1 → 2']);
  assert.deepEqual(
    describeRoutingDiff(split, { ...split, arms: [{ name: 'stable', version: 1, weight: 50 }, { name: 'canary', version: 3, weight: 50 }] }),
    ['arm stable: weight 90 → 50', 'arm canary: version 2 → 3, weight 10 → 50'],
  );
  const rich: RoutingSpec = { ...split, sticky: { header: 'x-modelport-key' }, shadow: { version: 3, percent: 5 }, rules: [{ header: 'x-canary', equals: 'yes', arm: 'canary' }] };
  assert.deepEqual(describeRoutingDiff(split, rich), [
    'sticky: none → header x-modelport-key',
    'rule header x-canary = "yes" → arm canary: added',
    'shadow: none → version 3 at 5%',
  ]);
  assert.deepEqual(describeRoutingDiff(rich, split), [
    'sticky: header x-modelport-key → none',
    'rule header x-canary = "yes" → arm canary: removed',
    'shadow: version 3 at 5% → none',
  ]);
  assert.deepEqual(describeRoutingDiff(rich, { ...rich, sticky: { parameter: 'user' }, shadow: { version: 4, percent: 10 } }), [
    'sticky: header x-modelport-key → parameter user',
    'shadow: version 3 at 5% → version 4 at 10%',
  ]);
});

test('seed changes show only when sticky; rule reordering shows', () => {
  const base: RoutingSpec = { seed: 'a', arms: [{ name: 'stable', version: 1, weight: 100 }] };
  assert.deepEqual(describeRoutingDiff(base, { ...base, seed: 'b' }), []);
  const sticky = { ...base, sticky: { header: 'x-k' } };
  assert.deepEqual(describeRoutingDiff(sticky, { ...sticky, seed: 'b' }), ['seed: a → b (sticky keys are reassigned)']);
  const r1 = { header: 'x-a', equals: '1', arm: 'stable' };
  const r2 = { parameter: 'p', equals: '2', arm: 'stable' };
  assert.deepEqual(describeRoutingDiff({ ...base, rules: [r1, r2] }, { ...base, rules: [r2, r1] }), ['rules: reordered (the first match wins)']);
  assert.deepEqual(describeRoutingDiff({ ...base, rules: [r1] }, { ...base, rules: [r1, r2] }), ['rule parameter p = "2" → arm stable: added']);
});

test('stableArm, singleVersionRouting and routingVersions', () => {
  const spec: RoutingSpec = {
    seed: 's',
    arms: [{ name: 'canary', version: 2, weight: 10 }, { name: 'stable', version: 1, weight: 90 }, { name: 'dark', version: 5, weight: 0 }],
    shadow: { version: 3, percent: 1 },
  };
  assert.deepEqual(stableArm(spec), { name: 'stable', version: 1, weight: 90 });
  assert.throws(() => stableArm({ seed: 's', arms: [{ name: 'x', version: 1, weight: 100 }] }), /no arm named 'stable'/);
  assert.deepEqual(routingVersions(spec), [2, 1, 5, 3]);
  const single = singleVersionRouting(7);
  assert.deepEqual(single.arms, [{ name: 'stable', version: 7, weight: 100 }]);
  assert.ok(single.seed.length > 0);
  assert.equal(singleVersionRouting(7, 'fixed').seed, 'fixed');
  // What singleVersionRouting builds is itself valid.
  assert.deepEqual(validateRoutingSpec('m', single, new Set([7])), single);
});
