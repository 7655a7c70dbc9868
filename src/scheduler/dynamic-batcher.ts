/**
 * The dynamic batcher of one model version: a bounded priority queue in front of that version's
 * runtime instances, merging compatible requests into batches the way Triton's dynamic batcher
 * does. By default it is work-conserving: the moment an instance is free and something is queued,
 * it runs everything compatible that is waiting (up to max_batch_size), so batches grow only from
 * requests that queued while every instance was busy and an idle server adds no delay at all.
 * A queue delay and preferred batch sizes are opt-in. It also enforces the queue policy: the queue
 * bound, per-request deadlines (refusing at once what its measured service rate cannot answer in
 * time, see admission.ts), cancellation, and draining on shutdown.
 */
import { mpError, toModelportError, type ModelportError, type Tensor } from '../core/index.js';
import type { RunResult, RuntimeInstance } from '../runtime/index.js';
import { admits, expectedCompletionNs, overloadedError, ServiceTime, type Backlog } from './admission.js';
import { assembleBatch, batchShapeKey, checkBatchOutputs, splitBatch } from './assemble-batch.js';
import type { BatcherOptions, Clock, ExecutionRecord } from './batcher-options.js';
import { RealClock } from './real-clock.js';
import { QueueEntry, RequestQueue } from './request-queue.js';
import type { ScheduledRequest, ScheduledResult, Scheduler, SchedulerStats } from './scheduler.js';

/**
 * The timeout that applies to a queued request, in microseconds (0 = none):
 * - with a default (`defaultUs` > 0), the default applies, unless overrides are allowed and the
 *   request asks for a shorter positive timeout, which then applies instead (a request can only
 *   shorten its wait, never lengthen it, as in Triton's queue policy);
 * - without a default, the request's own positive timeout applies whether or not overrides are
 *   allowed: there is no policy value for it to override.
 */
export function effectiveTimeoutUs(requestedUs: number | undefined, defaultUs: number, allowOverride: boolean): number {
  const own = requestedUs !== undefined && requestedUs > 0 && Number.isFinite(requestedUs) ? requestedUs : 0;
  if (defaultUs <= 0) return own;
  return allowOverride && own > 0 && own < defaultUs ? own : defaultUs;
}

/** One request from enqueue to completion; also its own abort listener, so none is allocated. */
class PendingRequest extends QueueEntry {
  readonly promise: Promise<ScheduledResult>;
  resolve!: (result: ScheduledResult) => void;
  reject!: (error: ModelportError) => void;
  /** Timeout timer while armed. */
  timer: unknown = undefined;
  /** True while registered on the request's AbortSignal. */
  listening = false;

  constructor(
    readonly request: ScheduledRequest,
    readonly enqueueNs: bigint,
    private readonly onAbort: (entry: PendingRequest) => void,
  ) {
    super();
    this.promise = new Promise<ScheduledResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  handleEvent(): void {
    this.onAbort(this);
  }
}

/** A batch handed to an instance and not yet answered. */
class RunningBatch {
  assembledNs = 0n;

  constructor(
    readonly entries: PendingRequest[],
    readonly total: number,
    readonly instance: RuntimeInstance,
    readonly dispatchNs: bigint,
    /** Outputs asked of the instance: the union of the requests' output names when they differ. */
    readonly outputNames: readonly string[],
    readonly mixedOutputs: boolean,
  ) {}
}

export class DynamicBatcher implements Scheduler {
  readonly #name: string;
  readonly #clock: Clock;
  readonly #maxBatchSize: number;
  /** Preferred batch sizes, only when some are configured. */
  readonly #preferred: ReadonlySet<number> | null;
  readonly #delayNs: bigint;
  readonly #maxQueueSize: number;
  readonly #defaultTimeoutUs: number;
  readonly #allowTimeoutOverride: boolean;
  readonly #fallbackTimeoutUs: number;
  readonly #instanceCount: number;
  readonly #service = new ServiceTime();
  readonly #onExecution: ((record: ExecutionRecord) => void) | undefined;

  readonly #queue = new RequestQueue<PendingRequest>();
  /** Idle instances; taken from the end so the most recently used (warmest) one runs next. */
  readonly #free: RuntimeInstance[];
  #executing = 0;
  #draining = false;
  #drainWaiters: (() => void)[] = [];
  #pumping = false;
  #pumpAgain = false;
  #delayTimer: unknown = undefined;
  /** Deadline the delay timer is armed for. */
  #delayTimerAt = 0n;
  /** Latest deadline whose delay timer has fired: those batches count as due even if timers ran early. */
  #delayDueNs = -1n;

  constructor(options: BatcherOptions) {
    const name = options.name;
    this.#name = name;
    this.#clock = options.clock ?? new RealClock();
    if (options.instances.length === 0) {
      throw mpError('MP_ERR_MODEL_CONFIG', `model '${name}' has no instances to run on; expected at least one`);
    }
    this.#free = options.instances.slice().reverse();
    this.#instanceCount = options.instances.length;
    const maxBatchSize = options.maxBatchSize;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 0) {
      throw mpError('MP_ERR_MODEL_CONFIG', `model '${name}' has max_batch_size ${maxBatchSize}; expected an integer >= 0`);
    }
    this.#maxBatchSize = maxBatchSize;
    const preferred = maxBatchSize > 0 ? (options.preferredBatchSizes ?? []) : [];
    for (const size of preferred) {
      if (!Number.isInteger(size) || size < 1 || size > maxBatchSize) {
        throw mpError(
          'MP_ERR_MODEL_CONFIG',
          `model '${name}' has preferred batch size ${size}; expected integers from 1 to max_batch_size ${maxBatchSize}`,
        );
      }
    }
    this.#preferred = preferred.length > 0 ? new Set(preferred) : null;
    // Without batching, holding a request back cannot make its batch any larger.
    const delayUs = nonNegative(options.maxQueueDelayUs, 'max_queue_delay_microseconds', name);
    this.#delayNs = maxBatchSize > 0 ? BigInt(Math.round(delayUs * 1000)) : 0n;
    this.#maxQueueSize = nonNegative(options.maxQueueSize, 'max_queue_size', name);
    this.#defaultTimeoutUs = nonNegative(options.defaultTimeoutUs, 'default_timeout_microseconds', name);
    this.#allowTimeoutOverride = options.allowTimeoutOverride ?? false;
    this.#fallbackTimeoutUs = nonNegative(options.fallbackTimeoutUs, 'request timeout', name);
    this.#onExecution = options.onExecution;
  }

  enqueue(request: ScheduledRequest): Promise<ScheduledResult> {
    if (this.#draining) {
      return Promise.reject(
        mpError(
          'MP_ERR_SERVER_STOPPING',
          `model '${this.#name}' is stopping and accepts no new requests; the request was not queued`,
        ),
      );
    }
    const batchSize = request.batchSize;
    if (this.#maxBatchSize > 0 && batchSize > this.#maxBatchSize) {
      return Promise.reject(
        mpError(
          'MP_ERR_INPUT_SHAPE',
          `request carries a batch of ${batchSize} but model '${this.#name}' accepts at most ` +
            `${this.#maxBatchSize} (max_batch_size)`,
        ),
      );
    }
    // Idle server: run at once, synchronously, without touching the queue, timers or the signal
    // (callers may create the signal lazily; not reading it keeps the idle path allocation-free).
    if (this.#queue.size === 0 && this.#free.length > 0 && this.#delayNs === 0n) {
      const entry = new PendingRequest(request, this.#clock.now(), this.#onAbort);
      this.#dispatch([entry], batchSize);
      return entry.promise;
    }

    if (this.#maxQueueSize > 0 && this.#queue.size >= this.#maxQueueSize) {
      return Promise.reject(
        mpError(
          'MP_ERR_QUEUE_FULL',
          `model '${this.#name}' already has ${this.#maxQueueSize} requests queued, its limit (max_queue_size); ` +
            'the request was not queued. Retry later, add instances or raise the limit',
        ),
      );
    }
    const signal = request.signal;
    if (signal?.aborted) return Promise.reject(this.#cancelledError());
    const requested = request.priority;
    const priority = typeof requested === 'number' && Number.isFinite(requested) ? requested : 0;
    const timeoutUs = this.#deadlineUs(request);
    if (timeoutUs > 0 && this.#service.known) {
      const backlog: Backlog = {
        itemsAhead: this.#queue.itemsAhead(priority),
        items: batchSize,
        instances: this.#instanceCount,
        allBusy: this.#free.length === 0,
      };
      const expectedNs = expectedCompletionNs(this.#service, backlog);
      if (!admits(expectedNs, timeoutUs)) {
        return Promise.reject(overloadedError(this.#name, timeoutUs, expectedNs, backlog, this.#service));
      }
    }
    const entry = new PendingRequest(request, this.#clock.now(), this.#onAbort);
    entry.priority = priority;
    entry.items = batchSize;
    entry.key = this.#maxBatchSize > 0 ? batchShapeKey(request.inputs) : '';
    this.#queue.push(entry);
    this.#pump();
    // Timers and listeners only for requests that actually wait.
    if (entry.queued) {
      if (timeoutUs > 0) {
        // Dropped once it can no longer be answered in time: its own batch must still run.
        const waitMs = Math.max(0, timeoutUs / 1000 - this.#service.nsPerBatch / 1e6);
        entry.timer = this.#clock.setTimeout(() => {
          entry.timer = undefined;
          this.#abandon(entry, this.#timeoutError(timeoutUs));
        }, waitMs);
      }
      if (signal) {
        signal.addEventListener('abort', entry);
        entry.listening = true;
      }
    }
    return entry.promise;
  }

  /**
   * The time a request may still take, µs (0 = unlimited): its timeout under the queue policy,
   * else the server's fallback, less what it already spent in the server, shortened to the
   * caller's own deadline.
   */
  #deadlineUs(request: ScheduledRequest): number {
    let timeoutUs = effectiveTimeoutUs(request.timeoutUs, this.#defaultTimeoutUs, this.#allowTimeoutOverride) || this.#fallbackTimeoutUs;
    const waitedUs = request.waitedUs;
    if (timeoutUs > 0 && waitedUs !== undefined && waitedUs > 0) timeoutUs = Math.max(1, timeoutUs - waitedUs);
    const callerUs = request.deadlineUs;
    if (callerUs === undefined || !(callerUs > 0) || !Number.isFinite(callerUs)) return timeoutUs;
    return timeoutUs > 0 ? Math.min(timeoutUs, callerUs) : callerUs;
  }

  stats(): SchedulerStats {
    return { queued: this.#queue.size, executing: this.#executing };
  }

  drain(): Promise<void> {
    this.#draining = true;
    this.#pump();
    if (this.#queue.size === 0 && this.#executing === 0) {
      this.#clearDelayTimer();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Hands batches to free instances until none is free, the queue is empty, or the batch should wait. */
  #pump(): void {
    // Completions and aborts can arrive while a dispatch is under way (e.g. from a callback); one loop at a time.
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        while (this.#free.length > 0 && this.#queue.size > 0 && this.#dispatchNext()) {
          // each iteration dispatched one batch
        }
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Forms the next batch from the head of the queue and dispatches it; false when it should wait
   * for more requests (queue delay). The batch takes, in queue order, the requests with the head's
   * shape key while they fit in max_batch_size, stopping at the first one that does not fit so a
   * large request is never overtaken by smaller ones of its own shape. Then:
   * full → send; a preferred size reachable as a prefix → send the largest such prefix; queue delay
   * set and the head younger than it → wait; otherwise → send all. Draining sends all at once.
   */
  #dispatchNext(): boolean {
    const queue = this.#queue;
    const head = queue.head()!;
    const max = this.#maxBatchSize;
    let count = 0;
    let total = 0;
    if (max === 0) {
      count = 1;
    } else {
      const preferred = this.#preferred;
      let preferredCount = 0;
      for (let entry: PendingRequest | null = head; entry !== null; entry = queue.nextCompatible(entry)) {
        const size = entry.request.batchSize;
        if (total + size > max) break;
        total += size;
        count++;
        if (preferred !== null && preferred.has(total)) preferredCount = count;
        if (total === max) break;
      }
      if (!this.#draining && total < max) {
        if (preferredCount > 0) {
          count = preferredCount;
        } else if (this.#delayNs > 0n) {
          const deadline = head.enqueueNs + this.#delayNs;
          if (deadline > this.#delayDueNs && deadline > this.#clock.now()) {
            this.#armDelayTimer(deadline);
            return false;
          }
        }
      }
    }
    const entries: PendingRequest[] = [];
    total = 0;
    let entry: PendingRequest | null = head;
    for (let i = 0; i < count; i++) {
      const current = entry!;
      entry = queue.nextCompatible(current);
      queue.remove(current);
      this.#detach(current);
      // Callers that went away while queued are dropped here rather than run for nobody.
      if (current.request.isCancelled?.() === true) {
        current.reject(this.#cancelledError());
        continue;
      }
      entries.push(current);
      total += current.request.batchSize;
    }
    if (entries.length > 0) this.#dispatch(entries, total);
    return true;
  }

  #dispatch(entries: PendingRequest[], total: number): void {
    const instance = this.#free.pop()!;
    const dispatchNs = this.#clock.now();
    const first = entries[0]!.request;
    let outputNames: readonly string[] = first.outputNames;
    let mixedOutputs = false;
    let inputs: Tensor[];
    try {
      if (entries.length === 1) {
        inputs = first.inputs;
      } else {
        const perRequest: Tensor[][] = new Array(entries.length);
        for (let i = 0; i < entries.length; i++) {
          const request = entries[i]!.request;
          perRequest[i] = request.inputs;
          if (!mixedOutputs && !sameNames(outputNames, request.outputNames)) mixedOutputs = true;
        }
        if (mixedOutputs) outputNames = unionOfOutputNames(entries);
        inputs = assembleBatch(perRequest, total);
      }
    } catch (error) {
      this.#free.push(instance);
      const failure = toModelportError(error, 'MP_ERR_INTERNAL');
      for (const entry of entries) entry.reject(failure);
      return;
    }
    const batch = new RunningBatch(entries, total, instance, dispatchNs, outputNames, mixedOutputs);
    batch.assembledNs = this.#clock.now();
    this.#executing++;
    let running: Promise<RunResult>;
    try {
      // The inputs may be transferred to the instance's thread: nothing here reads them again.
      running = instance.run(inputs, outputNames);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (result) => this.#finish(batch, result),
      (error: unknown) => this.#fail(batch, error, this.#clock.now()),
    );
  }

  #finish(batch: RunningBatch, result: RunResult): void {
    const doneNs = this.#clock.now();
    let outputs: Tensor[][];
    try {
      outputs = this.#split(batch, result.outputs);
    } catch (error) {
      this.#fail(batch, error, doneNs);
      return;
    }
    const computeOutputNs = Number(this.#clock.now() - doneNs);
    const computeInferNs = Number.isFinite(result.inferNs) && result.inferNs > 0 ? result.inferNs : 0;
    // Assembly plus whatever the round trip to the instance cost beyond the engine's own time.
    const computeInputNs =
      Number(batch.assembledNs - batch.dispatchNs) + Math.max(0, Number(doneNs - batch.assembledNs) - computeInferNs);
    this.#executing--;
    this.#free.push(batch.instance);
    this.#service.observe(batch.total, Number(doneNs - batch.dispatchNs));
    const entries = batch.entries;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      entry.resolve({
        outputs: outputs[i]!,
        timing: {
          queueNs: Number(batch.dispatchNs - entry.enqueueNs),
          computeInputNs,
          computeInferNs,
          computeOutputNs,
          batchSize: batch.total,
        },
      });
    }
    this.#record({ batchSize: batch.total, computeInputNs, computeInferNs, computeOutputNs, ok: true });
    this.#pump();
    this.#checkDrained();
  }

  /**
   * Fails every request of the batch with the instance's error. The instance is free again: a
   * runtime whose thread died replaces it before the next run. The execution record carries the
   * whole round trip as inference time, since the engine's own time is unknown.
   */
  #fail(batch: RunningBatch, error: unknown, doneNs: bigint): void {
    const failure = toModelportError(error, 'MP_ERR_RUNTIME_FAILED');
    this.#executing--;
    this.#free.push(batch.instance);
    for (const entry of batch.entries) entry.reject(failure);
    this.#record({
      batchSize: batch.total,
      computeInputNs: Number(batch.assembledNs - batch.dispatchNs),
      computeInferNs: Number(doneNs - batch.assembledNs),
      computeOutputNs: 0,
      ok: false,
    });
    this.#pump();
    this.#checkDrained();
  }

  /** Per-request outputs of a batch, in each request's own output order. */
  #split(batch: RunningBatch, outputs: Tensor[]): Tensor[][] {
    if (outputs.length !== batch.outputNames.length) {
      throw mpError(
        'MP_ERR_RUNTIME_FAILED',
        `model '${this.#name}' returned ${outputs.length} outputs for ${batch.outputNames.length} requested ` +
          `(${batch.outputNames.join(', ')})`,
      );
    }
    if (this.#maxBatchSize === 0) return [outputs];
    checkBatchOutputs(outputs, batch.total, this.#name);
    const entries = batch.entries;
    if (entries.length === 1) return [outputs];
    const sizes: number[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) sizes[i] = entries[i]!.request.batchSize;
    const parts = splitBatch(outputs, sizes, batch.total);
    if (!batch.mixedOutputs) return parts;
    const position = new Map<string, number>();
    batch.outputNames.forEach((name, index) => position.set(name, index));
    return parts.map((part, i) => entries[i]!.request.outputNames.map((name) => part[position.get(name)!]!));
  }

  #record(record: ExecutionRecord): void {
    if (this.#onExecution === undefined) return;
    try {
      this.#onExecution(record);
    } catch {
      // Statistics must never stall the queue; a failing recorder only loses this record.
    }
  }

  /** Removes a still-queued request (timeout or cancellation) and rejects it. */
  #abandon(entry: PendingRequest, error: ModelportError): void {
    if (!this.#queue.remove(entry)) return;
    this.#detach(entry);
    entry.reject(error);
    // The head may have changed, and with it what can be dispatched or what the delay waits for.
    this.#pump();
    this.#checkDrained();
  }

  readonly #onAbort = (entry: PendingRequest): void => {
    this.#abandon(entry, this.#cancelledError());
  };

  /** Drops what a queued request held once it leaves the queue: once dispatched it runs to completion. */
  #detach(entry: PendingRequest): void {
    if (entry.timer !== undefined) {
      this.#clock.clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    if (entry.listening) {
      entry.request.signal!.removeEventListener('abort', entry);
      entry.listening = false;
    }
  }

  #armDelayTimer(deadline: bigint): void {
    if (this.#delayTimer !== undefined) {
      if (this.#delayTimerAt <= deadline) return;
      this.#clock.clearTimeout(this.#delayTimer);
    }
    this.#delayTimerAt = deadline;
    const remaining = deadline - this.#clock.now();
    this.#delayTimer = this.#clock.setTimeout(this.#onDelayTimer, remaining > 0n ? Number(remaining) / 1e6 : 0);
  }

  readonly #onDelayTimer = (): void => {
    this.#delayTimer = undefined;
    if (this.#delayTimerAt > this.#delayDueNs) this.#delayDueNs = this.#delayTimerAt;
    this.#pump();
    this.#checkDrained();
  };

  #clearDelayTimer(): void {
    if (this.#delayTimer === undefined) return;
    this.#clock.clearTimeout(this.#delayTimer);
    this.#delayTimer = undefined;
  }

  #checkDrained(): void {
    if (!this.#draining || this.#queue.size > 0 || this.#executing > 0 || this.#drainWaiters.length === 0) return;
    this.#clearDelayTimer();
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #timeoutError(timeoutUs: number): ModelportError {
    return mpError(
      'MP_ERR_REQUEST_TIMEOUT',
      `request to model '${this.#name}' waited in the queue until it could no longer be answered within its timeout ` +
        `of ${timeoutUs} µs; it was not run`,
    );
  }

  #cancelledError(): ModelportError {
    return mpError(
      'MP_ERR_REQUEST_CANCELLED',
      `request cancelled by the caller before model '${this.#name}' ran it; it was not run`,
    );
  }
}

function nonNegative(value: number | undefined, key: string, model: string): number {
  if (value === undefined) return 0;
  if (!Number.isFinite(value) || value < 0) {
    throw mpError('MP_ERR_MODEL_CONFIG', `model '${model}' has ${key} ${value}; expected a number >= 0`);
  }
  return value;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function unionOfOutputNames(entries: readonly PendingRequest[]): string[] {
  const seen = new Set<string>();
  for (const entry of entries) for (const name of entry.request.outputNames) seen.add(name);
  return [...seen];
}
