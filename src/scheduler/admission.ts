/**
 * Overload protection of one dynamic batcher: refuse at once what cannot be answered in time,
 * instead of queueing it to time out later.
 *
 * The design, chosen as the simplest that keeps every promise of an overloaded server:
 * - A request's deadline is the earliest of: its `timeout` parameter under the model's queue
 *   policy (Triton's rule), the caller's own deadline (a gRPC deadline), and the server's
 *   --request-deadline-ms for requests that get none from either; the first and last count from
 *   when the request reached the server (over HTTP, when it started to arrive).
 * - The batcher measures how long its instances take per batch item (ServiceTime below: total
 *   execution time over total items of recent batches, so large batches weigh by their size),
 *   and how much that varies from batch to batch. Admission plans with the mean plus twice the
 *   mean deviation, as TCP sizes its retransmission timer from round-trip times (Jacobson): on a
 *   steady machine that is the mean, on a noisy one (cores shared with HTTP parsing, garbage
 *   collection or other processes) the queue is kept shorter.
 * - A request that has to wait is admitted only if it is expected to be answered within half
 *   its deadline: the running batches finish (one average batch, when every instance is busy),
 *   then every item queued ahead of it at its priority or a more urgent one and its own items run
 *   on the instances in parallel. Otherwise it is refused with MP_ERR_OVERLOADED
 *   (503 / UNAVAILABLE) within the enqueue call: clients learn in microseconds, not at their
 *   deadline, and retry elsewhere.
 * - Why half, and why the deviation: under overload every admitted request is a marginal one, so
 *   admitting up to the deadline itself makes about half of them late as soon as the service
 *   rate dips after they were admitted; and it does dip, since reading and refusing the excess
 *   takes CPU from inference (measured on two cores at 3× capacity: batches from 5 to 35 ms, a
 *   fifth to a half less throughput than without the excess; with three quarters of the
 *   mean as the horizon, one admitted request in seven timed out). The other half also covers
 *   the time a request spends outside the queue (read, decoded, answered). A shorter standing
 *   queue costs no throughput: the instances stay busy as long as anything is queued. The queue
 *   therefore holds at most about half a deadline of work, so accepted requests meet their
 *   deadline and the memory held by queued requests is bounded.
 * - A queued request is removed unrun once it can no longer be answered by its deadline: at its
 *   deadline less one average batch, the time its own batch would still take.
 * - Requests without any deadline are bounded by count: the model's max_queue_size, or the
 *   server's --default-max-queue-size when the model sets none (MP_ERR_QUEUE_FULL).
 * Before the first batch there is nothing to go by, so nothing is refused on time grounds; the
 * warm-up run at load gives the first measurement. A batch of one costs more per item than a
 * full one, so early estimates err on the side of refusing, and converge within a few batches.
 */
import { mpError, type ModelportError } from '../core/index.js';

/** Weight of the past after each new batch: about the last ten batches make the estimate. */
const DECAY = 0.9;
/** Weight of each new batch in the mean deviation (Jacobson's β). */
const DEVIATION_GAIN = 0.25;
/** Mean deviations added to the mean time per item when planning. */
const DEVIATIONS = 2;

/** Share of its deadline within which a request must be expected to be answered to be admitted. */
export const ADMISSION_SHARE = 0.5;

/** Decayed execution time per batch and per item of one batcher's instances, and its variation. */
export class ServiceTime {
  #ns = 0;
  #items = 0;
  #batches = 0;
  /** Decayed mean absolute deviation of a batch's time per item from the mean. */
  #deviation = 0;

  /** One executed batch: its items and the time from dispatch to its answer. */
  observe(items: number, ns: number): void {
    if (!(items > 0) || !(ns > 0) || !Number.isFinite(ns)) return;
    if (this.known) this.#deviation += DEVIATION_GAIN * (Math.abs(ns / items - this.nsPerItem) - this.#deviation);
    this.#ns = this.#ns * DECAY + ns;
    this.#items = this.#items * DECAY + items;
    this.#batches = this.#batches * DECAY + 1;
  }

  /** False until a batch has been measured. */
  get known(): boolean {
    return this.#items > 0;
  }

  /** Instance time per batch item, weighted by items. */
  get nsPerItem(): number {
    return this.#items > 0 ? this.#ns / this.#items : 0;
  }

  /** Time per item to plan with: the mean plus twice its mean deviation. */
  get nsPerItemPlanned(): number {
    return this.nsPerItem + DEVIATIONS * this.#deviation;
  }

  /** Mean time of one batch. */
  get nsPerBatch(): number {
    return this.#batches > 0 ? this.#ns / this.#batches : 0;
  }
}

export interface Backlog {
  /** Items queued that would run before the request. */
  itemsAhead: number;
  /** The request's own items. */
  items: number;
  instances: number;
  /** True when no instance is free, so the request waits for a running batch too. */
  allBusy: boolean;
}

/** True when a request expected to be answered in `expectedNs` may queue with this deadline. */
export function admits(expectedNs: number, deadlineUs: number): boolean {
  return expectedNs <= deadlineUs * 1000 * ADMISSION_SHARE;
}

/** Expected nanoseconds from now until the request is answered. */
export function expectedCompletionNs(service: ServiceTime, backlog: Backlog): number {
  const running = backlog.allBusy ? service.nsPerBatch : 0;
  return running + ((backlog.itemsAhead + backlog.items) * service.nsPerItemPlanned) / Math.max(1, backlog.instances);
}

/** The refusal, naming the model, the deadline and what stands in its way. */
export function overloadedError(name: string, deadlineUs: number, expectedNs: number, backlog: Backlog, service: ServiceTime): ModelportError {
  const itemsPerSecond = service.nsPerItem > 0 ? Math.round((1e9 / service.nsPerItem) * Math.max(1, backlog.instances)) : 0;
  return mpError(
    'MP_ERR_OVERLOADED',
    `model '${name}' is overloaded: ${backlog.itemsAhead} batch items are queued ahead of this request and at the measured ` +
      `${itemsPerSecond} items/s, allowing for its variation, it would be answered in about ${formatMs(expectedNs / 1e6)} ms, too close to its deadline of ` +
      `${formatMs(deadlineUs / 1000)} ms (admitted: within ${ADMISSION_SHARE * 100}%); the request was not queued. ` +
      'Retry later, add instances or allow a longer deadline',
  );
}

function formatMs(ms: number): string {
  return ms >= 10 ? String(Math.round(ms)) : ms.toFixed(1);
}
