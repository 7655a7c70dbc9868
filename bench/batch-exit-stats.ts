/**
 * Loaded into `modelport batch` with `node --import` by the batch benchmark: when the process
 * exits it writes its peak resident memory (getrusage's ru_maxrss, the kernel's high-water mark of
 * the whole process, worker threads included) and its CPU time to the file named by
 * MODELPORT_BENCH_EXIT_STATS. Sampling /proc from outside can miss a peak in the last moments
 * before exit (the final merge of the parts); this cannot. Nothing happens without the variable,
 * and only the main thread writes (workers inherit --import).
 */
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

export interface ExitStats {
  /** Peak RSS, KiB. */
  maxRssKb: number;
  userCpuUs: number;
  systemCpuUs: number;
  /** Seconds since the process started. */
  uptimeSeconds: number;
  exitCode: number;
}

const target = process.env['MODELPORT_BENCH_EXIT_STATS'];
if (target !== undefined && target !== '' && isMainThread) {
  process.on('exit', (code) => {
    const usage = process.resourceUsage();
    const stats: ExitStats = {
      maxRssKb: usage.maxRSS,
      userCpuUs: usage.userCPUTime,
      systemCpuUs: usage.systemCPUTime,
      uptimeSeconds: process.uptime(),
      exitCode: code,
    };
    try {
      writeFileSync(target, JSON.stringify(stats));
    } catch {
      // The benchmark then falls back to what it sampled from /proc.
    }
  });
}
