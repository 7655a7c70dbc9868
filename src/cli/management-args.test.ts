/** The management commands' value parsers: durations, splits, shadows, tags, steps, numbers and times. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import {
  collectTag,
  formatTags,
  parseCount,
  parseDuration,
  parsePositiveCount,
  parsePositiveNumber,
  parseRate,
  parseShadow,
  parseSplit,
  parseSteps,
  parseTime,
  parseVersionNumber,
  parseVersionRef,
} from './management-args.js';

const invalid = (pattern: RegExp) => (error: unknown) => error instanceof InvalidArgumentError && pattern.test(error.message);

test('parseDuration takes ms, s, m, h and plain milliseconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1.5s'), 1_500);
  assert.equal(parseDuration('250'), 250);
  assert.equal(parseDuration(' 2 s '), 2_000);
});

test('parseDuration refuses other units, negatives and zero', () => {
  for (const bad of ['', 's', '3x', '-1s', '1d', '1.s', 'ten']) assert.throws(() => parseDuration(bad), invalid(/expected a duration/), bad);
  assert.throws(() => parseDuration('0s'), invalid(/above zero/));
  assert.throws(() => parseDuration('0.0001s'), invalid(/above zero/));
});

test('parseSplit reads NAME=VERSION:WEIGHT arms', () => {
  assert.deepEqual(parseSplit('stable=1:90,canary=2:10'), [
    { name: 'stable', version: 1, weight: 90 },
    { name: 'canary', version: 2, weight: 10 },
  ]);
  assert.deepEqual(parseSplit(' stable = 1 : 50.5 , b=3:49.5 '), [
    { name: 'stable', version: 1, weight: 50.5 },
    { name: 'b', version: 3, weight: 49.5 },
  ]);
  // One arm takes everything without a weight.
  assert.deepEqual(parseSplit('stable=4'), [{ name: 'stable', version: 4, weight: 100 }]);
});

test('parseSplit refuses malformed arms, missing weights and repeats', () => {
  assert.throws(() => parseSplit(''), invalid(/expected arms/));
  assert.throws(() => parseSplit('stable:1:90'), invalid(/NAME=VERSION:WEIGHT.*'stable:1:90'/));
  assert.throws(() => parseSplit('stable=v1:90'), invalid(/'stable=v1:90'/));
  assert.throws(() => parseSplit('stable=1:ninety'), invalid(/'stable=1:ninety'/));
  assert.throws(() => parseSplit('stable=1,canary=2:10'), invalid(/arm 'stable' needs a weight/));
  assert.throws(() => parseSplit('a=1:50,a=2:50'), invalid(/arm 'a' appears twice/));
});

test('parseShadow reads VERSION:PERCENT or off', () => {
  assert.deepEqual(parseShadow('2:5'), { version: 2, percent: 5 });
  assert.deepEqual(parseShadow('3:12.5%'), { version: 3, percent: 12.5 });
  assert.equal(parseShadow('off'), 'off');
  assert.equal(parseShadow('none'), 'off');
  assert.throws(() => parseShadow('2'), invalid(/VERSION:PERCENT/));
  assert.throws(() => parseShadow('2:101'), invalid(/at most 100/));
});

test('collectTag gathers KEY=VALUE pairs; formatTags joins them for the query', () => {
  let tags = collectTag('team=search');
  tags = collectTag(' stage = prod ', tags);
  tags = collectTag('expr=a=b', tags);
  tags = collectTag('empty=', tags);
  assert.deepEqual(tags, { team: 'search', stage: 'prod', expr: 'a=b', empty: '' });
  assert.equal(formatTags(tags), 'team=search,stage=prod,expr=a=b,empty=');
  assert.throws(() => collectTag('novalue'), invalid(/KEY=VALUE/));
  assert.throws(() => collectTag('=x'), invalid(/KEY=VALUE/));
  assert.throws(() => collectTag('a=1,2'), invalid(/cannot contain ','/));
});

test('parseSteps reads percent weights', () => {
  assert.deepEqual(parseSteps('10,25,50,100'), [10, 25, 50, 100]);
  assert.deepEqual(parseSteps('5, 100'), [5, 100]);
  for (const bad of ['', '0,100', '10,101', '10,x', '-5,100']) assert.throws(() => parseSteps(bad), invalid(/weights in percent/), bad);
});

test('version references: numbers become numbers, anything else is an alias', () => {
  assert.equal(parseVersionRef('3'), 3);
  assert.equal(parseVersionRef('prod'), 'prod');
  assert.equal(parseVersionRef('v3'), 'v3');
  assert.throws(() => parseVersionRef(' '), invalid(/version number or an alias/));
  assert.equal(parseVersionNumber('12'), 12);
  assert.throws(() => parseVersionNumber('prod'), invalid(/version number/));
});

test('numbers, rates, counts and times', () => {
  assert.equal(parsePositiveNumber('1.5'), 1.5);
  assert.throws(() => parsePositiveNumber('0'), invalid(/above zero/));
  assert.throws(() => parsePositiveNumber(''), invalid(/above zero/));
  assert.equal(parseRate('0.01'), 0.01);
  assert.equal(parseRate('0'), 0);
  assert.throws(() => parseRate('1.5'), invalid(/fraction from 0 to 1/));
  assert.throws(() => parseRate('1%'), invalid(/fraction/));
  assert.equal(parseCount('0'), 0);
  assert.equal(parseCount('20'), 20);
  assert.throws(() => parseCount('2.5'), invalid(/whole number/));
  assert.throws(() => parsePositiveCount('0'), invalid(/above zero/));
  assert.equal(parseTime('2024-05-01T12:00:00Z'), '2024-05-01T12:00:00.000Z');
  assert.equal(parseTime('2024-05-01T14:00:00+02:00'), '2024-05-01T12:00:00.000Z');
  assert.throws(() => parseTime('yesterday'), invalid(/expected a time/));
});
