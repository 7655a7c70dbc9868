/**
 * Tests of the dynamic batcher against a fake runtime instance (it records every batch, answers
 * only when the test says, and returns outputs computed from the inputs so splitting can be
 * checked) and a fake clock that the test advances by hand, so queue delays, timeouts and timing
 * fields are exact and nothing depends on real time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isModelportError, type Datatype, type Tensor } from '../core/index.js';
import type { RunResult, RuntimeInstance } from '../runtime/index.js';
import type { BatcherOptions, Clock, ExecutionRecord } from './batcher-options.js';
import { DynamicBatcher, effectiveTimeoutUs } from './dynamic-batcher.js';
import type { ScheduledRequest, ScheduledResult } from './scheduler.js';

class FakeClock implements Clock {
  ns = 1_000_000_000n;
  created = 0;
  /** How much earlier than asked timers fire, as coarse real timers may. */
  earlyNs = 0n;
  #timers = new Map<number, { at: bigint; callback: () => void }>();
  #nextId = 1;

  now(): bigint {
    return this.ns;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.created++;
    this.#timers.set(id, { at: this.ns + BigInt(Math.round(ms * 1e6)) - this.earlyNs, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward, firing due timers in deadline order at their own instants. */
  advanceUs(us: number): void {
    const target = this.ns + BigInt(Math.round(us * 1000));
    for (;;) {
      let dueId = -1;
      let dueAt = 0n;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && (dueId === -1 || timer.at < dueAt)) {
          dueId = id;
          dueAt = timer.at;
        }
      }
      if (dueId === -1) break;
      const timer = this.#timers.get(dueId)!;
      this.#timers.delete(dueId);
      if (timer.at > this.ns) this.ns = timer.at;
      timer.callback();
    }
    this.ns = target;
  }
}

interface Call {
  inputs: Tensor[];
  outputNames: readonly string[];
  resolve: (result: RunResult) => void;
  reject: (error: unknown) => void;
  settled: boolean;
}

/** Output 'y' = x * 2 and 'z' = x + 1, elementwise over input 0, same shape. */
function deriveOutputs(inputs: Tensor[], outputNames: readonly string[]): Tensor[] {
  const x = inputs[0]!;
  const source = x.data as Float32Array;
  return outputNames.map((name) => {
    const data = new Float32Array(source.length);
    for (let i = 0; i < source.length; i++) data[i] = name === 'z' ? source[i]! + 1 : source[i]! * 2;
    return { name, datatype: x.datatype, shape: x.shape.slice(), data };
  });
}

class FakeInstance implements RuntimeInstance {
  readonly calls: Call[] = [];
  throwSync: Error | null = null;

  constructor(readonly name: string) {}

  run(inputs: Tensor[], outputNames: readonly string[]): Promise<RunResult> {
    if (this.throwSync) throw this.throwSync;
    return new Promise((resolve, reject) => {
      this.calls.push({ inputs, outputNames, resolve, reject, settled: false });
    });
  }

  async close(): Promise<void> {}

  get inFlight(): Call | undefined {
    return this.calls.find((call) => !call.settled);
  }

  /** Answers the batch in flight; `outputs` overrides the derived outputs. */
  complete(options: { inferNs?: number; outputs?: Tensor[] } = {}): Call {
    const call = this.inFlight;
    assert.ok(call, `${this.name} has no batch in flight`);
    call.settled = true;
    call.resolve({ outputs: options.outputs ?? deriveOutputs(call.inputs, call.outputNames), inferNs: options.inferNs ?? 0 });
    return call;
  }

  fail(error: unknown): Call {
    const call = this.inFlight;
    assert.ok(call, `${this.name} has no batch in flight`);
    call.settled = true;
    call.reject(error);
    return call;
  }
}

/** Lets resolved runs reach the batcher and settled requests reach the test. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function request(
  rows: number[][],
  options: { datatype?: Datatype; outputNames?: string[] } & Partial<ScheduledRequest> = {},
): ScheduledRequest {
  const cols = rows[0]?.length ?? 0;
  const datatype = options.datatype ?? 'FP32';
  const flat = rows.flat();
  const data = datatype === 'FP64' ? new Float64Array(flat) : new Float32Array(flat);
  const { datatype: _ignored, outputNames, ...rest } = options;
  return {
    inputs: [{ name: 'x', datatype, shape: [rows.length, cols], data }],
    outputNames: outputNames ?? ['y'],
    batchSize: rows.length,
    ...rest,
  };
}

/** Observes a promise without awaiting it, so tests can check it is still pending. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; state: () => 'pending' | 'resolved' | 'rejected' } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  return { promise, state: () => state };
}

function setup(options: Partial<BatcherOptions> & { instanceCount?: number } = {}) {
  const clock = new FakeClock();
  const instances = Array.from({ length: options.instanceCount ?? 1 }, (_, i) => new FakeInstance(`m_${i}`));
  const records: ExecutionRecord[] = [];
  const { instanceCount: _count, ...rest } = options;
  const batcher = new DynamicBatcher({
    name: 'mlp:1',
    instances,
    maxBatchSize: 8,
    clock,
    onExecution: (record) => records.push(record),
    ...rest,
  });
  return { batcher, clock, instances, instance: instances[0]!, records };
}

function rowsOf(tensor: Tensor): number[] {
  return Array.from(tensor.data as Float32Array);
}

async function assertCode(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isModelportError(error), `expected a ModelportError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

describe('DynamicBatcher', () => {
  it('runs a request on an idle server at once, synchronously, passing its tensors unchanged', async () => {
    const { batcher, instance, clock } = setup({ defaultTimeoutUs: 1000 });
    const r = request([[1, 2]]);
    const pending = batcher.enqueue(r);
    assert.equal(instance.calls.length, 1, 'dispatched before enqueue returned');
    assert.equal(instance.calls[0]!.inputs, r.inputs, 'a batch of one is the request itself, not a copy');
    assert.equal(clock.created, 0, 'no timeout timer for a request that never waited');
    assert.deepEqual(batcher.stats(), { queued: 0, executing: 1 });
    instance.complete();
    const result = await pending;
    assert.deepEqual(result.outputs[0]!.shape, [1, 2]);
    assert.deepEqual(rowsOf(result.outputs[0]!), [2, 4]);
    assert.equal(result.timing.batchSize, 1);
    assert.deepEqual(batcher.stats(), { queued: 0, executing: 0 });
  });

  it('batches requests that queued while the instance was busy, FIFO, up to maxBatchSize', async () => {
    const { batcher, instance } = setup({ maxBatchSize: 4 });
    const first = batcher.enqueue(request([[0, 0]]));
    const later = [1, 2, 3, 4, 5].map((v) => batcher.enqueue(request([[v, v * 10]])));
    assert.equal(instance.calls.length, 1);
    assert.deepEqual(batcher.stats(), { queued: 5, executing: 1 });

    instance.complete();
    await settle();
    assert.equal(instance.calls.length, 2);
    const batch = instance.calls[1]!;
    assert.deepEqual(batch.inputs[0]!.shape, [4, 2]);
    assert.deepEqual(rowsOf(batch.inputs[0]!), [1, 10, 2, 20, 3, 30, 4, 40]);
    assert.deepEqual(batcher.stats(), { queued: 1, executing: 1 });

    instance.complete();
    await settle();
    assert.equal(instance.calls.length, 3);
    assert.deepEqual(rowsOf(instance.calls[2]!.inputs[0]!), [5, 50]);
    instance.complete();

    await first;
    const results = await Promise.all(later);
    results.forEach((result, i) => {
      const v = i + 1;
      assert.deepEqual(result.outputs[0]!.shape, [1, 2]);
      assert.deepEqual(rowsOf(result.outputs[0]!), [v * 2, v * 20]);
    });
    assert.deepEqual(
      results.map((r) => r.timing.batchSize),
      [4, 4, 4, 4, 1],
    );
  });

  it('splits outputs back per request as views of the batch output, with each request’s rows', async () => {
    const { batcher, instance } = setup({ maxBatchSize: 8 });
    void batcher.enqueue(request([[0, 0, 0]]));
    const a = batcher.enqueue(request([[1, 1, 1], [2, 2, 2]]));
    const b = batcher.enqueue(request([[3, 3, 3]]));
    const c = batcher.enqueue(request([[4, 4, 4], [5, 5, 5], [6, 6, 6]]));
    instance.complete();
    await settle();
    const call = instance.calls[1]!;
    assert.deepEqual(call.inputs[0]!.shape, [6, 3]);
    const outputs = deriveOutputs(call.inputs, call.outputNames);
    instance.complete({ outputs });
    const [ra, rb, rc] = await Promise.all([a, b, c]);
    assert.deepEqual(ra.outputs[0]!.shape, [2, 3]);
    assert.deepEqual(rb.outputs[0]!.shape, [1, 3]);
    assert.deepEqual(rc.outputs[0]!.shape, [3, 3]);
    assert.deepEqual(rowsOf(ra.outputs[0]!), [2, 2, 2, 4, 4, 4]);
    assert.deepEqual(rowsOf(rb.outputs[0]!), [6, 6, 6]);
    assert.deepEqual(rowsOf(rc.outputs[0]!), [8, 8, 8, 10, 10, 10, 12, 12, 12]);
    const batchBuffer = (outputs[0]!.data as Float32Array).buffer;
    for (const r of [ra, rb, rc]) {
      assert.equal((r.outputs[0]!.data as Float32Array).buffer, batchBuffer, 'no copy: a view of the batch output');
    }
    assert.equal(ra.outputs[0]!.name, 'y');
    assert.equal(ra.timing.batchSize, 6);
  });

  it('never lets a request overtake an earlier one of its shape that does not fit', async () => {
    const { batcher, instance } = setup({ maxBatchSize: 4 });
    void batcher.enqueue(request([[0]]));
    const big = batcher.enqueue(request([[1], [1], [1]]));
    const two = batcher.enqueue(request([[2], [2]]));
    const one = batcher.enqueue(request([[3]]));
    instance.complete();
    await settle();
    assert.deepEqual(rowsOf(instance.calls[1]!.inputs[0]!), [1, 1, 1]);
    instance.complete();
    await settle();
    assert.deepEqual(rowsOf(instance.calls[2]!.inputs[0]!), [2, 2, 3]);
    instance.complete();
    await Promise.all([big, two, one]);
  });

  it('never batches requests with different non-batch dims or datatypes, and takes compatible ones from further back', async () => {
    const { batcher, instance } = setup({ maxBatchSize: 8 });
    void batcher.enqueue(request([[0, 0]]));
    const a1 = batcher.enqueue(request([[1, 1]]));
    const b1 = batcher.enqueue(request([[2, 2, 2]]));
    const a2 = batcher.enqueue(request([[3, 3]]));
    const d1 = batcher.enqueue(request([[4, 4]], { datatype: 'FP64' }));
    const b2 = batcher.enqueue(request([[5, 5, 5]]));
    const a3 = batcher.enqueue(request([[6, 6]]));

    instance.complete();
    await settle();
    assert.deepEqual(instance.calls[1]!.inputs[0]!.shape, [3, 2]);
    assert.deepEqual(rowsOf(instance.calls[1]!.inputs[0]!), [1, 1, 3, 3, 6, 6]);
    instance.complete();
    await settle();
    assert.deepEqual(instance.calls[2]!.inputs[0]!.shape, [2, 3], 'the odd shape is the new head and runs next');
    assert.deepEqual(rowsOf(instance.calls[2]!.inputs[0]!), [2, 2, 2, 5, 5, 5]);
    instance.complete();
    await settle();
    const last = instance.calls[3]!;
    assert.equal(last.inputs[0]!.datatype, 'FP64');
    assert.deepEqual(last.inputs[0]!.shape, [1, 2]);
    last.settled = true;
    last.resolve({ outputs: [{ name: 'y', datatype: 'FP64', shape: [1, 2], data: new Float64Array([8, 8]) }], inferNs: 0 });
    const results = await Promise.all([a1, b1, a2, d1, b2, a3]);
    assert.deepEqual(
      results.map((r) => r.timing.batchSize),
      [3, 2, 3, 1, 2, 3],
    );
    assert.deepEqual(rowsOf(results[2]!.outputs[0]!), [6, 6]);
    assert.deepEqual(rowsOf(results[4]!.outputs[0]!), [10, 10, 10]);
  });

  it('runs batches on two instances in parallel', async () => {
    const { batcher, instances } = setup({ instanceCount: 2, maxBatchSize: 4 });
    const [i0, i1] = instances as [FakeInstance, FakeInstance];
    const r0 = batcher.enqueue(request([[0]]));
    const r1 = batcher.enqueue(request([[1]]));
    assert.equal(i0.calls.length, 1);
    assert.equal(i1.calls.length, 1, 'the second request takes the second instance, not the queue');
    assert.deepEqual(batcher.stats(), { queued: 0, executing: 2 });
    const queued = [2, 3, 4].map((v) => batcher.enqueue(request([[v]])));
    assert.deepEqual(batcher.stats(), { queued: 3, executing: 2 });

    i1.complete();
    await settle();
    assert.equal(i1.calls.length, 2, 'the instance that freed up takes the queued batch');
    assert.deepEqual(rowsOf(i1.calls[1]!.inputs[0]!), [2, 3, 4]);
    assert.deepEqual(batcher.stats(), { queued: 0, executing: 2 });
    i0.complete();
    i1.complete();
    await Promise.all([r0, r1, ...queued]);
    assert.deepEqual(batcher.stats(), { queued: 0, executing: 0 });
  });

  it('refuses at once with MP_ERR_QUEUE_FULL when maxQueueSize requests are queued', async () => {
    const { batcher, instance } = setup({ maxQueueSize: 2 });
    void batcher.enqueue(request([[0]]));
    const q1 = batcher.enqueue(request([[1]]));
    const q2 = batcher.enqueue(request([[2]]));
    await assertCode(batcher.enqueue(request([[3]])), 'MP_ERR_QUEUE_FULL', /mlp:1.*\b2\b.*not queued/);
    assert.deepEqual(batcher.stats(), { queued: 2, executing: 1 });
    instance.complete();
    await settle();
    assert.equal(instance.calls[1]!.inputs[0]!.shape[0], 2);
    instance.complete();
    await Promise.all([q1, q2]);
    // Room again once the queue drained.
    const again = batcher.enqueue(request([[4]]));
    instance.complete();
    await again;
  });

  it('rejects a request carrying more rows than maxBatchSize with MP_ERR_INPUT_SHAPE', async () => {
    const { batcher, instance } = setup({ maxBatchSize: 2 });
    await assertCode(batcher.enqueue(request([[1], [2], [3]])), 'MP_ERR_INPUT_SHAPE', /at most 2/);
    assert.equal(instance.calls.length, 0);
  });

  describe('timeouts', () => {
    it('applies the documented override rule', () => {
      assert.equal(effectiveTimeoutUs(undefined, 0, false), 0);
      assert.equal(effectiveTimeoutUs(500, 0, false), 500, 'no default: the request’s own timeout applies');
      assert.equal(effectiveTimeoutUs(500, 0, true), 500);
      assert.equal(effectiveTimeoutUs(undefined, 1000, true), 1000);
      assert.equal(effectiveTimeoutUs(500, 1000, false), 1000, 'overrides not allowed');
      assert.equal(effectiveTimeoutUs(500, 1000, true), 500, 'a shorter override applies');
      assert.equal(effectiveTimeoutUs(2000, 1000, true), 1000, 'a longer one does not');
      assert.equal(effectiveTimeoutUs(0, 1000, true), 1000);
      assert.equal(effectiveTimeoutUs(-5, 0, true), 0);
    });

    it('rejects a request still queued when the default timeout expires, and only that one', async () => {
      const { batcher, instance, clock } = setup({ defaultTimeoutUs: 1000 });
      const running = batcher.enqueue(request([[0]]));
      const queued = track(batcher.enqueue(request([[1]])));
      clock.advanceUs(999);
      await settle();
      assert.equal(queued.state(), 'pending');
      clock.advanceUs(1);
      await assertCode(queued.promise, 'MP_ERR_REQUEST_TIMEOUT', /mlp:1.*1000 µs.*not run/);
      assert.deepEqual(batcher.stats(), { queued: 0, executing: 1 });
      clock.advanceUs(10_000);
      instance.complete();
      await running; // once dispatched, a request runs to completion whatever its age
      await settle();
      assert.equal(instance.calls.length, 1, 'the timed-out request never ran');
    });

    it('lets a request shorten the default when overrides are allowed, not lengthen it', async () => {
      const { batcher, clock } = setup({ defaultTimeoutUs: 1000, allowTimeoutOverride: true });
      void batcher.enqueue(request([[0]]));
      const short = track(batcher.enqueue(request([[1]], { timeoutUs: 300 })));
      const long = track(batcher.enqueue(request([[2]], { timeoutUs: 5000 })));
      clock.advanceUs(300);
      await settle();
      assert.equal(short.state(), 'rejected');
      assert.equal(long.state(), 'pending');
      clock.advanceUs(700);
      await settle();
      assert.equal(long.state(), 'rejected');
      await assertCode(long.promise, 'MP_ERR_REQUEST_TIMEOUT');
    });

    it('ignores a request’s timeout when overrides are off, and uses it when there is no default', async () => {
      const off = setup({ defaultTimeoutUs: 1000, allowTimeoutOverride: false });
      void off.batcher.enqueue(request([[0]]));
      const ignored = track(off.batcher.enqueue(request([[1]], { timeoutUs: 100 })));
      off.clock.advanceUs(500);
      await settle();
      assert.equal(ignored.state(), 'pending');
      off.clock.advanceUs(500);
      await assertCode(ignored.promise, 'MP_ERR_REQUEST_TIMEOUT');

      const none = setup({ allowTimeoutOverride: false });
      void none.batcher.enqueue(request([[0]]));
      const own = track(none.batcher.enqueue(request([[1]], { timeoutUs: 100 })));
      none.clock.advanceUs(100);
      await assertCode(own.promise, 'MP_ERR_REQUEST_TIMEOUT');
    });

    it('creates no timer for queued requests without a timeout and clears timers on dispatch', async () => {
      const { batcher, instance, clock } = setup();
      void batcher.enqueue(request([[0]]));
      const queued = [1, 2, 3].map((v) => batcher.enqueue(request([[v]])));
      assert.equal(clock.created, 0);
      const timed = batcher.enqueue(request([[4]], { timeoutUs: 1000 }));
      assert.equal(clock.created, 1);
      instance.complete();
      await settle();
      assert.equal(clock.pendingTimers, 0, 'dispatch cleared the timeout');
      clock.advanceUs(5000);
      instance.complete();
      await Promise.all([...queued, timed]);
    });
  });

  describe('deadline admission', () => {
    /**
     * A batcher whose instance has run one batch of 4 items in 4 ms (1 ms per item, 4 ms per
     * batch) and is busy again, so the next requests must wait: a request is admitted while
     * 4 ms + (items ahead + its own) × 1 ms fits in half its deadline.
     */
    async function measured(options: Partial<BatcherOptions> = {}) {
      const context = setup({ maxBatchSize: 4, ...options });
      const first = context.batcher.enqueue(request([[1], [2], [3], [4]]));
      context.clock.advanceUs(4000);
      context.instance.complete();
      await first;
      const running = context.batcher.enqueue(request([[0]]));
      assert.deepEqual(context.batcher.stats(), { queued: 0, executing: 1 });
      return { ...context, running };
    }

    it('refuses at once, unqueued, a request the measured rate cannot answer before its deadline', async () => {
      const { batcher, clock, instance, running } = await measured();
      const admitted = [0, 1, 2, 3, 4].map((v) => batcher.enqueue(request([[v]], { timeoutUs: 18_000 })));
      assert.equal(batcher.stats().queued, 5, 'expected answers at 5 to 9 ms: all within half of 18 ms');
      const timersBefore = clock.created;
      await assertCode(
        batcher.enqueue(request([[5]], { timeoutUs: 18_000 })),
        'MP_ERR_OVERLOADED',
        /model 'mlp:1' is overloaded: 5 batch items are queued ahead .* about 10 ms, too close to its deadline of 18 ms \(admitted: within 50%\); the request was not queued/,
      );
      assert.equal(batcher.stats().queued, 5);
      assert.equal(clock.created, timersBefore, 'a refused request arms no timer');
      // A larger request needs more time of its own: 11 ms, where one row (10 ms) would fit in 10.5.
      await assertCode(batcher.enqueue(request([[7], [8]], { timeoutUs: 21_000 })), 'MP_ERR_OVERLOADED');
      // Without a deadline only max_queue_size bounds the queue.
      const untimed = batcher.enqueue(request([[9]]));
      assert.equal(batcher.stats().queued, 6);
      for (let i = 0; i < 3; i++) {
        clock.advanceUs(1000);
        instance.complete();
        await settle();
      }
      await Promise.all([running, ...admitted, untimed]);
    });

    it('counts only the work that would run before the request, by priority', async () => {
      const { batcher, instance, running } = await measured();
      const background = Array.from({ length: 8 }, (_, v) => batcher.enqueue(request([[v]], { priority: 5 })));
      const urgent = batcher.enqueue(request([[1]], { timeoutUs: 12_000 }));
      assert.equal(batcher.stats().queued, 9, 'nothing of priority 0 is ahead: 4 + 1 ms');
      await assertCode(batcher.enqueue(request([[2]], { priority: 5, timeoutUs: 10_000 })), 'MP_ERR_OVERLOADED', /9 batch items are queued ahead/);
      for (let i = 0; i < 4; i++) {
        instance.complete();
        await settle();
      }
      await Promise.all([running, urgent, ...background]);
    });

    it('holds every request to its caller’s deadline, whatever the queue policy, and drops it unrun when it passes', async () => {
      const { batcher, clock, instance, running } = await measured({ defaultTimeoutUs: 1_000_000, allowTimeoutOverride: false });
      await assertCode(batcher.enqueue(request([[1]], { deadlineUs: 4_500 })), 'MP_ERR_OVERLOADED', /deadline of 4\.5 ms/);
      const queued = track(batcher.enqueue(request([[2]], { deadlineUs: 10_000 })));
      assert.equal(batcher.stats().queued, 1);
      // Its own batch takes 4 ms: after 6 ms in the queue it can no longer be answered in time.
      clock.advanceUs(5_999);
      await settle();
      assert.equal(queued.state(), 'pending');
      clock.advanceUs(1);
      await assertCode(queued.promise, 'MP_ERR_REQUEST_TIMEOUT', /could no longer be answered within its timeout of 10000 µs; it was not run/);
      assert.equal(batcher.stats().queued, 0);
      instance.complete();
      await running;
      await settle();
      assert.equal(instance.calls.length, 2, 'the expired request never ran');
    });

    it('counts the time a request already spent in the server against its timeout', async () => {
      const { batcher, instance, running } = await measured();
      const fresh = batcher.enqueue(request([[1]], { timeoutUs: 18_000 }));
      await assertCode(batcher.enqueue(request([[2]], { timeoutUs: 18_000, waitedUs: 10_000 })), 'MP_ERR_OVERLOADED', /deadline of 8\.0 ms/);
      assert.equal(batcher.stats().queued, 1);
      instance.complete();
      await settle();
      instance.complete();
      await Promise.all([running, fresh]);
    });

    it('applies the server’s fallback timeout only to requests that get none otherwise', async () => {
      const { batcher, instance, running } = await measured({ fallbackTimeoutUs: 10_000 });
      const fits = batcher.enqueue(request([[1]]));
      await assertCode(batcher.enqueue(request([[2]])), 'MP_ERR_OVERLOADED', /deadline of 10 ms/);
      const own = batcher.enqueue(request([[3]], { timeoutUs: 20_000 }));
      assert.equal(batcher.stats().queued, 2, 'its own timeout replaces the fallback');
      instance.complete();
      await settle();
      instance.complete();
      await Promise.all([running, fits, own]);
    });

    it('refuses nothing on time grounds before a batch has been measured, nor on an idle instance', async () => {
      const { batcher, clock, instance } = setup({ maxBatchSize: 4 });
      const first = batcher.enqueue(request([[0]]));
      const waiting = [1, 2, 3, 4, 5].map((v) => track(batcher.enqueue(request([[v]], { timeoutUs: 100 }))));
      assert.equal(batcher.stats().queued, 5);
      clock.advanceUs(100);
      await settle();
      assert.ok(waiting.every((w) => w.state() === 'rejected'));
      await assertCode(waiting[0]!.promise, 'MP_ERR_REQUEST_TIMEOUT');
      clock.advanceUs(50_000);
      instance.complete();
      await first;
      // Measured now at 50 ms a batch, yet an idle instance runs even a 1 µs request at once.
      const idle = batcher.enqueue(request([[6]], { timeoutUs: 1 }));
      assert.equal(instance.calls.length, 2);
      instance.complete();
      await idle;
    });
  });

  describe('queue delay and preferred sizes', () => {
    it('holds a batch until the delay elapses, then sends what it has', async () => {
      const { batcher, instance, clock } = setup({ maxQueueDelayUs: 500 });
      const a = batcher.enqueue(request([[1]]));
      clock.advanceUs(100);
      const b = batcher.enqueue(request([[2]]));
      assert.equal(instance.calls.length, 0, 'an idle instance waits for more');
      assert.deepEqual(batcher.stats(), { queued: 2, executing: 0 });
      clock.advanceUs(399);
      assert.equal(instance.calls.length, 0);
      clock.advanceUs(1);
      assert.equal(instance.calls.length, 1, 'sent when the oldest request has waited the delay');
      assert.deepEqual(rowsOf(instance.calls[0]!.inputs[0]!), [1, 2]);
      instance.complete();
      const [ra, rb] = await Promise.all([a, b]);
      assert.equal(ra.timing.queueNs, 500_000);
      assert.equal(rb.timing.queueNs, 400_000);
    });

    it('sends when the delay timer fires even if it fired slightly early', async () => {
      const { batcher, instance, clock } = setup({ maxQueueDelayUs: 500 });
      clock.earlyNs = 1000n;
      const a = batcher.enqueue(request([[1]]));
      clock.advanceUs(499);
      assert.equal(instance.calls.length, 1, 'the timer firing is what counts, not a re-check of the clock');
      assert.equal(clock.created, 1, 'no re-armed timer');
      instance.complete();
      await a;
    });

    it('sends at once when the batch reaches maxBatchSize', async () => {
      const { batcher, instance } = setup({ maxQueueDelayUs: 10_000, maxBatchSize: 3 });
      const all = [1, 2, 3].map((v) => batcher.enqueue(request([[v]])));
      assert.equal(instance.calls.length, 1);
      assert.deepEqual(rowsOf(instance.calls[0]!.inputs[0]!), [1, 2, 3]);
      instance.complete();
      await Promise.all(all);
    });

    it('sends the largest preferred batch as soon as one can be formed', async () => {
      const { batcher, instance, clock } = setup({ maxQueueDelayUs: 10_000, preferredBatchSizes: [2, 4] });
      const a = batcher.enqueue(request([[1]]));
      assert.equal(instance.calls.length, 0);
      const b = batcher.enqueue(request([[2]]));
      assert.equal(instance.calls.length, 1, 'preferred size 2 reached');
      assert.deepEqual(rowsOf(instance.calls[0]!.inputs[0]!), [1, 2]);

      // Five queue while the instance is busy: the largest preferred prefix (4) goes first.
      const more = [3, 4, 5, 6, 7].map((v) => batcher.enqueue(request([[v]])));
      instance.complete();
      await settle();
      assert.equal(instance.calls.length, 2);
      assert.deepEqual(rowsOf(instance.calls[1]!.inputs[0]!), [3, 4, 5, 6]);
      instance.complete();
      await settle();
      assert.equal(instance.calls.length, 2, 'the leftover request waits for company');
      clock.advanceUs(10_000);
      assert.equal(instance.calls.length, 3, 'until its delay elapses');
      assert.deepEqual(rowsOf(instance.calls[2]!.inputs[0]!), [7]);
      instance.complete();
      await Promise.all([a, b, ...more]);
    });

    it('dispatches at once without a delay even when preferred sizes are set', async () => {
      const { batcher, instance } = setup({ preferredBatchSizes: [4] });
      const a = batcher.enqueue(request([[1]]));
      assert.equal(instance.calls.length, 1);
      instance.complete();
      await a;
    });
  });

  describe('priority', () => {
    it('runs lower priority numbers first, FIFO within a level', async () => {
      const { batcher, instance } = setup({ maxBatchSize: 1 });
      void batcher.enqueue(request([[0]]));
      const order: number[] = [];
      const all = [
        { v: 1, priority: 2 },
        { v: 2, priority: 1 },
        { v: 3, priority: 2 },
        { v: 4, priority: 0 },
        { v: 5, priority: 1 },
      ].map(({ v, priority }) => batcher.enqueue(request([[v]], { priority })).then(() => order.push(v)));
      for (let i = 0; i < 6; i++) {
        instance.complete();
        await settle();
      }
      await Promise.all(all);
      assert.deepEqual(
        instance.calls.slice(1).map((call) => rowsOf(call.inputs[0]!)[0]),
        [4, 2, 5, 1, 3],
      );
    });

    it('fills a batch in priority order', async () => {
      const { batcher, instance } = setup({ maxBatchSize: 3 });
      void batcher.enqueue(request([[0]]));
      const all = [
        batcher.enqueue(request([[1]], { priority: 1 })),
        batcher.enqueue(request([[2]], { priority: 1 })),
        batcher.enqueue(request([[3]])),
        batcher.enqueue(request([[4]], { priority: 1 })),
      ];
      instance.complete();
      await settle();
      assert.deepEqual(rowsOf(instance.calls[1]!.inputs[0]!), [3, 1, 2]);
      instance.complete();
      await settle();
      assert.deepEqual(rowsOf(instance.calls[2]!.inputs[0]!), [4]);
      instance.complete();
      await Promise.all(all);
    });
  });

  describe('failures', () => {
    it('fails only the batch whose run rejected; the instance keeps serving', async () => {
      const { batcher, instance, records } = setup();
      const crash = new Error('worker died');
      const first = batcher.enqueue(request([[0]]));
      const a = batcher.enqueue(request([[1]]));
      const b = batcher.enqueue(request([[2]]));
      instance.fail(crash);
      await assertCode(first, 'MP_ERR_RUNTIME_FAILED', /worker died/);
      await settle();
      assert.equal(instance.calls.length, 2, 'the queued requests were dispatched after the failure');
      instance.complete();
      const [ra, rb] = await Promise.all([a, b]);
      assert.deepEqual(rowsOf(ra.outputs[0]!), [2]);
      assert.deepEqual(rowsOf(rb.outputs[0]!), [4]);
      assert.deepEqual(
        records.map((r) => [r.ok, r.batchSize]),
        [
          [false, 1],
          [true, 2],
        ],
      );
    });

    it('passes a ModelportError from the runtime through unchanged', async () => {
      const { batcher, instance } = setup();
      const pending = batcher.enqueue(request([[0]]));
      const { mpError } = await import('../core/index.js');
      const crashed = mpError('MP_ERR_RUNTIME_CRASHED', 'instance thread exited');
      instance.fail(crashed);
      await assert.rejects(pending, (error) => error === crashed);
    });

    it('treats a run that throws synchronously as a failed batch', async () => {
      const { batcher, instance } = setup();
      instance.throwSync = new Error('bad input buffer');
      await assertCode(batcher.enqueue(request([[0]])), 'MP_ERR_RUNTIME_FAILED', /bad input buffer/);
      instance.throwSync = null;
      const ok = batcher.enqueue(request([[1]]));
      instance.complete();
      await ok;
    });

    it('fails the batch when an output’s first dimension is not the batch size', async () => {
      const { batcher, instance, records } = setup();
      void batcher.enqueue(request([[0]]));
      const a = batcher.enqueue(request([[1]]));
      const b = batcher.enqueue(request([[2]]));
      instance.complete();
      await settle();
      instance.complete({ outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1], data: new Float32Array(1) }] });
      await assertCode(a, 'MP_ERR_RUNTIME_FAILED', /batch size 2/);
      await assertCode(b, 'MP_ERR_RUNTIME_FAILED');
      assert.equal(records.at(-1)!.ok, false);
      const c = batcher.enqueue(request([[3]]));
      instance.complete();
      await c;
    });

    it('fails the batch when the runtime returns a different number of outputs', async () => {
      const { batcher, instance } = setup();
      const a = batcher.enqueue(request([[1]], { outputNames: ['y', 'z'] }));
      instance.complete({ outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1], data: new Float32Array(1) }] });
      await assertCode(a, 'MP_ERR_RUNTIME_FAILED', /1 outputs for 2/);
    });
  });

  it('asks the instance for the union of outputs when requests differ, and answers each in its own order', async () => {
    const { batcher, instance } = setup();
    void batcher.enqueue(request([[0]]));
    const a = batcher.enqueue(request([[1]], { outputNames: ['y'] }));
    const b = batcher.enqueue(request([[2]], { outputNames: ['z', 'y'] }));
    instance.complete();
    await settle();
    assert.deepEqual(instance.calls[1]!.outputNames, ['y', 'z']);
    instance.complete();
    const [ra, rb] = await Promise.all([a, b]);
    assert.deepEqual(
      ra.outputs.map((t) => [t.name, rowsOf(t)]),
      [['y', [2]]],
    );
    assert.deepEqual(
      rb.outputs.map((t) => [t.name, rowsOf(t)]),
      [
        ['z', [3]],
        ['y', [4]],
      ],
    );
  });

  it('without batching (maxBatchSize 0) runs each request alone with its tensors unchanged', async () => {
    const { batcher, instance, records } = setup({ maxBatchSize: 0, maxQueueDelayUs: 1000 });
    // Without batching the whole tensor is one item: batchSize is 1 whatever dim 0 holds.
    const r0 = request([[0, 0], [0, 0]], { batchSize: 1 });
    const r1 = request([[1, 1], [1, 1]], { batchSize: 1 });
    const r2 = request([[2, 2], [2, 2]], { batchSize: 1 });
    const all = [r0, r1, r2].map((r) => batcher.enqueue(r));
    assert.equal(instance.calls.length, 1, 'no queue delay without batching');
    for (let i = 0; i < 3; i++) {
      instance.complete();
      await settle();
    }
    assert.equal(instance.calls.length, 3);
    assert.equal(instance.calls[1]!.inputs, r1.inputs);
    assert.equal(instance.calls[2]!.inputs, r2.inputs);
    const results = await Promise.all(all);
    assert.deepEqual(results[2]!.outputs[0]!.shape, [2, 2]);
    assert.deepEqual(rowsOf(results[2]!.outputs[0]!), [4, 4, 4, 4]);
    assert.deepEqual(
      records.map((r) => r.batchSize),
      [1, 1, 1],
    );
  });

  describe('cancellation', () => {
    it('removes and rejects a queued request whose signal aborts', async () => {
      const { batcher, instance } = setup();
      void batcher.enqueue(request([[0]]));
      const controller = new AbortController();
      const cancelled = batcher.enqueue(request([[1]], { signal: controller.signal }));
      const kept = batcher.enqueue(request([[2]]));
      controller.abort();
      await assertCode(cancelled, 'MP_ERR_REQUEST_CANCELLED', /cancelled/);
      assert.deepEqual(batcher.stats(), { queued: 1, executing: 1 });
      instance.complete();
      await settle();
      assert.deepEqual(rowsOf(instance.calls[1]!.inputs[0]!), [2]);
      instance.complete();
      await kept;
    });

    it('drops a queued request whose isCancelled() says its caller is gone', async () => {
      const { batcher, instance } = setup();
      void batcher.enqueue(request([[0]]));
      let gone = false;
      const cancelled = batcher.enqueue(request([[1]], { isCancelled: () => gone }));
      const kept = batcher.enqueue(request([[2]]));
      gone = true;
      instance.complete();
      await assertCode(cancelled, 'MP_ERR_REQUEST_CANCELLED', /cancelled/);
      await settle();
      assert.deepEqual(rowsOf(instance.calls[1]!.inputs[0]!), [2]);
      instance.complete();
      await kept;
    });

    it('refuses an already-aborted request that would queue, and lets a dispatched one finish', async () => {
      const { batcher, instance } = setup();
      const busy = batcher.enqueue(request([[0]]));
      await assertCode(batcher.enqueue(request([[1]], { signal: AbortSignal.abort() })), 'MP_ERR_REQUEST_CANCELLED', /cancelled/);
      assert.equal(instance.calls.length, 1);
      instance.complete();
      await busy;
      const controller = new AbortController();
      const running = batcher.enqueue(request([[2]], { signal: controller.signal }));
      controller.abort();
      instance.complete();
      const result = await running;
      assert.deepEqual(rowsOf(result.outputs[0]!), [4]);
    });
  });

  describe('drain', () => {
    it('waits for queued and running work, refusing new requests meanwhile', async () => {
      const { batcher, instance } = setup();
      const running = batcher.enqueue(request([[0]]));
      const queued = batcher.enqueue(request([[1]]));
      const drained = track(batcher.drain());
      await assertCode(batcher.enqueue(request([[2]])), 'MP_ERR_SERVER_STOPPING', /mlp:1/);
      instance.complete();
      await running;
      await settle();
      assert.equal(drained.state(), 'pending', 'the queued request still runs');
      instance.complete();
      await queued;
      await settle();
      assert.equal(drained.state(), 'resolved');
      assert.deepEqual(batcher.stats(), { queued: 0, executing: 0 });
    });

    it('flushes requests held by the queue delay at once', async () => {
      const { batcher, instance, clock } = setup({ maxQueueDelayUs: 1_000_000 });
      const held = batcher.enqueue(request([[1]]));
      assert.equal(instance.calls.length, 0);
      const drained = batcher.drain();
      assert.equal(instance.calls.length, 1);
      instance.complete();
      await held;
      await drained;
      assert.equal(clock.pendingTimers, 0, 'no delay timer left behind');
    });

    it('resolves at once when idle', async () => {
      const { batcher } = setup();
      await batcher.drain();
      await assertCode(batcher.enqueue(request([[1]])), 'MP_ERR_SERVER_STOPPING');
    });
  });

  it('reports queue and compute times per request and one execution record per batch', async () => {
    const { batcher, instance, clock, records } = setup();
    const first = batcher.enqueue(request([[0]]));
    const a = batcher.enqueue(request([[1]]));
    clock.advanceUs(100);
    const b = batcher.enqueue(request([[2]]));
    clock.advanceUs(50);
    instance.complete({ inferNs: 40_000 });
    await settle();
    // The batch of a and b was dispatched at t0 + 150 µs; its run takes 300 µs, 200 µs of it in the engine.
    clock.advanceUs(300);
    instance.complete({ inferNs: 200_000 });
    const [ra, rb] = await Promise.all([a, b]);
    assert.deepEqual(ra.timing, { queueNs: 150_000, computeInputNs: 100_000, computeInferNs: 200_000, computeOutputNs: 0, batchSize: 2 });
    assert.equal(rb.timing.queueNs, 50_000);
    const rf = await first;
    assert.deepEqual(rf.timing, { queueNs: 0, computeInputNs: 110_000, computeInferNs: 40_000, computeOutputNs: 0, batchSize: 1 });
    assert.deepEqual(records, [
      { batchSize: 1, computeInputNs: 110_000, computeInferNs: 40_000, computeOutputNs: 0, ok: true },
      { batchSize: 2, computeInputNs: 100_000, computeInferNs: 200_000, computeOutputNs: 0, ok: true },
    ]);
  });

  it('keeps scheduling when onExecution throws', async () => {
    const { batcher, instance } = setup({
      onExecution: () => {
        throw new Error('metrics down');
      },
    });
    const a = batcher.enqueue(request([[1]]));
    const b = batcher.enqueue(request([[2]]));
    instance.complete();
    await a;
    await settle();
    instance.complete();
    await b;
  });

  it('refuses invalid settings with MP_ERR_MODEL_CONFIG', () => {
    const instance = new FakeInstance('m');
    const base = { name: 'm:1', instances: [instance], maxBatchSize: 4 };
    const refuses = (options: BatcherOptions) =>
      assert.throws(
        () => new DynamicBatcher(options),
        (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_MODEL_CONFIG',
      );
    refuses({ ...base, instances: [] });
    refuses({ ...base, maxBatchSize: -1 });
    refuses({ ...base, preferredBatchSizes: [8] });
    refuses({ ...base, maxQueueSize: -1 });
    refuses({ ...base, defaultTimeoutUs: Number.NaN });
  });

  it('keeps up with a long queue without losing or reordering requests', async () => {
    const { batcher, instance } = setup({ maxBatchSize: 64 });
    const seen: number[] = [];
    const count = 5000;
    const all: Promise<ScheduledResult>[] = [];
    for (let v = 0; v < count; v++) all.push(batcher.enqueue(request([[v]])));
    while (instance.inFlight) {
      const call = instance.complete();
      seen.push(...rowsOf(call.inputs[0]!));
      await settle();
    }
    const results = await Promise.all(all);
    assert.equal(seen.length, count);
    assert.deepEqual(seen, Array.from({ length: count }, (_, v) => v));
    results.forEach((result, v) => assert.equal((result.outputs[0]!.data as Float32Array)[0], v * 2));
    assert.equal(Math.max(...results.map((r) => r.timing.batchSize)), 64);
  });
});
