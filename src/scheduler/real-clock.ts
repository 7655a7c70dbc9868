/**
 * The clock a dynamic batcher uses outside tests: monotonic nanoseconds from process.hrtime and
 * Node's own timers. Batchers take a Clock so tests can drive queue delays and timeouts by hand.
 */
import type { Clock } from './batcher-options.js';

export class RealClock implements Clock {
  now(): bigint {
    return process.hrtime.bigint();
  }

  setTimeout(callback: () => void, ms: number): unknown {
    // Rounded up: Node's timers may otherwise fire a fraction of a millisecond before the deadline.
    return globalThis.setTimeout(callback, Math.ceil(ms));
  }

  clearTimeout(handle: unknown): void {
    globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
  }
}
