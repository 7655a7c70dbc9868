import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

/** Nice value and scheduling policy (5 = SCHED_IDLE) of a thread of this process, from /proc. */
function schedulingOf(tid: string): { nice: number; policy: number } {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  // Fields 19 (nice) and 41 (policy), counted after the command name's closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { nice: Number(fields[16]), policy: Number(fields[38]) };
}

function hasChrt(): boolean {
  try {
    execFileSync('chrt', ['--max'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

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
    const thread = schedulingOf(tid);
    assert.equal(thread.nice, 19);
    if (hasChrt()) {
      assert.equal(got, 'idle');
      assert.equal(thread.policy, 5);
    } else assert.equal(got, 'nice');
    const mine = schedulingOf(readlinkSync('/proc/thread-self').split('/').pop()!);
    assert.deepEqual(mine, { nice: 0, policy: 0 });
  } finally {
    worker.postMessage('done');
    await once(worker, 'exit');
  }
});
