/**
 * What payload logging costs: `mlp`, binary batch-1 requests at concurrency 16, driven by the
 * serving benchmark's closed-loop client against three servers in one run — payload logging off,
 * on at 100% sampling into rotating JSONL files, and on at 100% into a webhook that accepts
 * connections and never answers (a blocked sink). Each is measured twice, interleaved, and the
 * better window kept, since the two shared cores make single windows noisy. Reports throughput
 * as a ratio to "off", p99, peak RSS and the sink counters from /metrics; writes the
 * `payload-log` section of bench/README.md.
 *
 *   npm run bench:payload-log     (BENCH_SECONDS, BENCH_WARMUP as for npm run bench)
 */
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBenchConfig } from './bench-config.js';
import { BENCH_MODELS } from './bench-payloads.js';
import type { LoadRow } from './bench-report.js';
import { measureLevel } from './measure-level.js';
import { freePort, repoRoot, startModelport } from './modelport-process.js';
import { replaceSection } from './readme-sections.js';

const CONCURRENCY = 16;

interface Variant {
  name: string;
  args: (dir: string, hook: string) => string[];
}

const VARIANTS: Variant[] = [
  { name: 'off', args: () => [] },
  { name: 'files, 100%', args: (dir) => ['--payload-log', 'mlp=1', '--payload-log-dir', dir] },
  { name: 'blocked webhook, 100%', args: (_dir, hook) => ['--payload-log', 'mlp=1', '--payload-log-webhook', hook] },
];

interface Result {
  variant: string;
  row: LoadRow;
  counters: string;
}

function log(line: string): void {
  process.stderr.write(`[payload-log] ${line}\n`);
}

async function main(): Promise<void> {
  const config = readBenchConfig();
  const model = BENCH_MODELS.find((m) => m.name === 'mlp')!;
  // A webhook that takes the connection and never answers.
  const held: Socket[] = [];
  const blackhole = createServer((socket) => held.push(socket)).listen(0, '127.0.0.1');
  await once(blackhole, 'listening');
  const hook = `http://127.0.0.1:${(blackhole.address() as { port: number }).port}/payloads`;
  const results: Result[] = [];
  for (let round = 0; round < 2; round++) {
    for (const variant of VARIANTS) {
      const dir = mkdtempSync(join(tmpdir(), 'modelport-payload-bench-'));
      const metricsPort = await freePort();
      const server = await startModelport({ models: ['mlp'], serveArgs: ['--metrics-port', String(metricsPort), ...variant.args(dir, hook)] });
      try {
        log(`${variant.name}, round ${round + 1}`);
        const row = await measureLevel(config, server.port, server.pid, model, 'binary', CONCURRENCY, true);
        const metrics = await fetchMetrics(metricsPort);
        results.push({ variant: variant.name, row, counters: metrics });
      } finally {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  for (const socket of held) socket.destroy();
  blackhole.close();

  const best = VARIANTS.map((v) => results.filter((r) => r.variant === v.name).sort((a, b) => b.row.load.requestsPerSecond - a.row.load.requestsPerSecond)[0]!);
  const off = best[0]!.row.load.requestsPerSecond;
  const lines = [
    '## Payload logging',
    '',
    `\`npm run bench:payload-log\` on ${cpus().length} vCPU: \`mlp\`, binary batch-1 requests, concurrency ${CONCURRENCY}, the closed-loop client of \`npm run bench\``,
    `(${config.measureMs / 1000} s windows after ${config.warmupMs / 1000} s warm-up; each variant measured twice, interleaved, the better window kept).`,
    'Goal: logging every request costs ≤ 5% of throughput; with the sink blocked, throughput is unchanged and drops are counted.',
    '',
    '| payload logging | items/s | vs off | p50 ms | p99 ms | server CPU % | peak RSS MB | sink counters at the end |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...best.map((r) => {
      const load = r.row.load;
      return `| ${r.variant} | ${Math.round(load.requestsPerSecond)} | ${(load.requestsPerSecond / off).toFixed(3)}× | ${load.latencyMs.p50.toFixed(2)} | ${load.latencyMs.p99.toFixed(2)} | ${r.row.server.cpuPercent.toFixed(0)} | ${r.row.server.peakRssMb.toFixed(0)} | ${r.counters || '—'} |`;
    }),
    '',
    `All rounds (items/s): ${VARIANTS.map((v) => `${v.name}: ${results.filter((r) => r.variant === v.name).map((r) => Math.round(r.row.load.requestsPerSecond)).join(', ')}`).join('; ')}.`,
  ];
  const report = lines.join('\n');
  process.stdout.write(`${report}\n`);
  const file = join(repoRoot, 'bench', 'README.md');
  writeFileSync(file, replaceSection(existsSync(file) ? readFileSync(file, 'utf8') : '', 'payload-log', report));
  log(`wrote ${file}`);
  if (results.some((r) => r.row.load.errors > 0)) process.exitCode = 1;
}

/** The payload-log counters from the server's Prometheus endpoint, compacted for the table. */
async function fetchMetrics(metricsPort: number): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return [...text.matchAll(/^modelport_payload_log_events_total\{sink="([^"]+)",outcome="([^"]+)"\} (\d+)/gm)]
    .map((m) => `${m[1]} ${m[2]} ${m[3]}`)
    .join(', ');
}

main().catch((error: unknown) => {
  log(String((error as Error)?.stack ?? error));
  process.exit(1);
});
