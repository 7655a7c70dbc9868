/**
 * Where Modelport's time goes under load: starts `modelport serve` under `node --cpu-prof`, drives
 * mlp with binary batch-1 requests at the highest benchmark concurrency (64 by default), stops the
 * server with SIGTERM (it answers what is in flight and exits 0, which is when node writes the
 * profiles) and prints the top functions by self time for the main thread and, separately, each
 * inference worker thread. Run through `BENCH_PROFILE=1 npm run bench` or
 * `node dist/bench/profile-server.js`; the profiles stay in the printed folder for DevTools.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBenchConfig, type BenchConfig } from './bench-config.js';
import { BENCH_MODELS } from './bench-payloads.js';
import { formatProfile, summariseProfiles } from './cpu-profile-summary.js';
import { measureLevel } from './measure-level.js';
import { startModelport } from './modelport-process.js';

export async function profileServer(config: BenchConfig): Promise<void> {
  const model = config.models.find((m) => m.name === 'mlp') ?? BENCH_MODELS[0]!;
  const concurrency = Math.max(...config.concurrencies);
  const dir = mkdtempSync(join(tmpdir(), 'modelport-cpu-prof-'));
  process.stderr.write(`profiling modelport serve: ${model.name} binary, concurrency ${concurrency}, ${config.warmupMs / 1000} s + ${config.measureMs / 1000} s; profiles in ${dir}\n`);

  const server = await startModelport({ models: [model.name], nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] });
  let exitCode: number | null;
  try {
    const { load, server: window, stats } = await measureLevel(config, server.port, server.pid, model, 'binary', concurrency, true);
    process.stdout.write(
      `under profiling: ${Math.round(load.requestsPerSecond)} items/s, p50 ${load.latencyMs.p50.toFixed(3)} ms, p99 ${load.latencyMs.p99.toFixed(3)} ms, ` +
        `errors ${load.errors}, server CPU ${window.cpuPercent.toFixed(0)}%` +
        (stats ? `, avg batch ${stats.avgBatch.toFixed(1)}, queue ${stats.avgQueueMs.toFixed(3)} ms, compute_infer ${stats.avgComputeInferMs.toFixed(3)} ms` : '') +
        '\n(the profiler itself slows the server; the profiles also cover start-up and shutdown; onnxruntime\'s own\n' +
        'intra-op pool threads are native and invisible here: their time shows only as server CPU)\n\n',
    );
  } finally {
    exitCode = await server.stop();
  }
  if (exitCode !== 0) process.stdout.write(`modelport serve exited with code ${exitCode} after SIGTERM (0 expected); profiles may be missing\n`);

  const threads = summariseProfiles(dir, 25);
  if (threads.length === 0) {
    process.stdout.write(`no .cpuprofile written in ${dir}\n`);
    process.exitCode = 1;
    return;
  }
  for (const thread of threads) process.stdout.write(`${formatProfile(thread)}\n\n`);
  process.stdout.write(`profiles: ${dir} (open in Chrome DevTools > Performance, or VS Code)\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  profileServer(readBenchConfig()).catch((error: unknown) => {
    process.stderr.write(`${String((error as Error)?.stack ?? error)}\n`);
    process.exit(1);
  });
}
