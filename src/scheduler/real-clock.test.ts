/**
 * Tests of the real clock: monotonic nanoseconds and timers that fire no earlier than asked and
 * can be cancelled.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RealClock } from './real-clock.js';

it('RealClock runs timers no earlier than asked, and cancels them', async () => {
  const clock = new RealClock();
  const start = clock.now();
  let cancelledFired = false;
  clock.clearTimeout(clock.setTimeout(() => (cancelledFired = true), 1));
  await new Promise<void>((resolve) => clock.setTimeout(resolve, 2.2));
  assert.ok(clock.now() - start >= 2_000_000n);
  assert.equal(cancelledFired, false);
});
