/**
 * Tests of the admission arithmetic on its own: the decayed service-time estimate and the expected
 * completion time a batcher compares with a request's deadline.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admits, expectedCompletionNs, overloadedError, ServiceTime } from './admission.js';

describe('ServiceTime', () => {
  it('knows nothing before the first batch and ignores impossible measurements', () => {
    const service = new ServiceTime();
    assert.equal(service.known, false);
    service.observe(0, 1000);
    service.observe(4, 0);
    service.observe(4, Number.NaN);
    assert.equal(service.known, false);
    service.observe(4, 4_000_000);
    assert.equal(service.known, true);
    assert.equal(service.nsPerItem, 1_000_000);
    assert.equal(service.nsPerBatch, 4_000_000);
  });

  it('weighs batches by their items and follows a change of speed within a few dozen batches', () => {
    const service = new ServiceTime();
    // A batch of one at 2 ms and a batch of 99 at 0.1 ms per item: items decide the per-item cost.
    service.observe(1, 2_000_000);
    service.observe(99, 9_900_000);
    assert.ok(service.nsPerItem < 120_000, `per item ${service.nsPerItem}`);
    for (let i = 0; i < 60; i++) service.observe(10, 50_000_000);
    assert.ok(Math.abs(service.nsPerItem - 5_000_000) / 5_000_000 < 0.01, `per item ${service.nsPerItem}`);
    assert.ok(Math.abs(service.nsPerBatch - 50_000_000) / 50_000_000 < 0.01, `per batch ${service.nsPerBatch}`);
  });
});

describe('ServiceTime variation', () => {
  it('plans with the mean on a steady instance and adds twice the mean deviation on a noisy one', () => {
    const steady = new ServiceTime();
    for (let i = 0; i < 20; i++) steady.observe(10, 10_000_000);
    assert.ok(steady.nsPerItemPlanned - steady.nsPerItem < 1, 'no variation, no allowance');
    const noisy = new ServiceTime();
    for (let i = 0; i < 40; i++) noisy.observe(10, i % 2 === 0 ? 5_000_000 : 15_000_000);
    assert.ok(Math.abs(noisy.nsPerItem - 1_000_000) < 60_000, `mean ${noisy.nsPerItem}`);
    // Each batch is 0.5 ms per item away from the mean: the plan is about 1 + 2 × 0.5 ms.
    assert.ok(Math.abs(noisy.nsPerItemPlanned - 2_000_000) < 150_000, `planned ${noisy.nsPerItemPlanned}`);
  });
});

describe('expectedCompletionNs', () => {
  const service = new ServiceTime();
  service.observe(8, 8_000_000);

  it('is the work ahead plus the request’s own, shared by the instances', () => {
    assert.equal(expectedCompletionNs(service, { itemsAhead: 0, items: 1, instances: 1, allBusy: false }), 1_000_000);
    assert.equal(expectedCompletionNs(service, { itemsAhead: 15, items: 1, instances: 2, allBusy: false }), 8_000_000);
  });

  it('adds one running batch when no instance is free', () => {
    assert.equal(expectedCompletionNs(service, { itemsAhead: 2, items: 2, instances: 1, allBusy: true }), 12_000_000);
  });

  it('refuses with a message that names the model, the deadline and the backlog', () => {
    const backlog = { itemsAhead: 40, items: 1, instances: 1, allBusy: true };
    const error = overloadedError('mlp:1', 25_000, expectedCompletionNs(service, backlog), backlog, service);
    assert.equal(error.code, 'MP_ERR_OVERLOADED');
    assert.equal(error.kind, 'UNAVAILABLE');
    assert.match(error.message, /model 'mlp:1' is overloaded: 40 batch items are queued ahead/);
    assert.match(error.message, /1000 items\/s/);
    assert.match(error.message, /about 49 ms, too close to its deadline of 25 ms \(admitted: within 50%\); the request was not queued/);
  });

  it('admits what is expected within half the deadline', () => {
    assert.equal(admits(5_000_000, 10_000), true);
    assert.equal(admits(5_000_001, 10_000), false);
  });
});
