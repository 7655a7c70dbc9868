import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { hasChrt, SCHED_IDLE, threadScheduling } from '../../test/fixtures/thread-scheduling.js';

test('runOnSpareCpu moves only the calling thread to SCHED_IDLE (nice 19 where chrt is missing)', { skip: process.platform !== 'linux' && 'per-thread scheduling is read from /proc' }, async () => {
  const module = new URL('./background-thread.js', import.meta.url).href;
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { readlinkSync } = require('node:fs');
     import(${JSON.stringify(module)}).then(async (m) => {
       const got = await m.runOnSpareCpu();
       parentPort.postMessage({ got, tid: readlinkSync('/proc/thread-self').split('/').pop() });
       parentPort.once('message', () => process.exit(0));
     });`,
    { eval: true },
  );
  const [{ got, tid }] = (await once(worker, 'message')) as [{ got: string; tid: string }];
  try {
    const thread = threadScheduling(tid);
    assert.equal(thread.nice, 19);
    if (hasChrt()) {
      assert.equal(got, 'idle');
      assert.equal(thread.policy, SCHED_IDLE);
    } else assert.equal(got, 'nice');
    const mine = threadScheduling(readlinkSync('/proc/thread-self').split('/').pop()!);
    assert.deepEqual(mine, { nice: 0, policy: 0 });
  } finally {
    worker.postMessage('done');
    await once(worker, 'exit');
  }
});
