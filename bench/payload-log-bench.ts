/**
 * What payload logging costs: `mlp`, binary batch-1 requests at concurrency 16, driven by the
 * serving benchmark's closed-loop client against three servers — payload logging off, on at 100%
 * sampling into rotating JSONL files, and on at 100% into a webhook that accepts connections and
 * never answers (a blocked sink). The variants run in rounds (BENCH_ROUNDS, default 3), each
 * round in a rotated order, because the two shared cores make single windows noisy (±25%) and
 * slow drifts in background load would otherwise favour whichever variant runs first. Reports
 * the best window, the median of each round's ratio to that round's "off" window (pairs measured
 * seconds apart share the background load), and the server's CPU time per item, which moves far
 * less with contention than throughput does. Writes the `payload-log` section of bench/README.md.
 *
 *   npm run bench:payload-log     (BENCH_SECONDS, BENCH_WARMUP as for npm run bench; BENCH_ROUNDS)
 *
 * With PAYLOAD_LOG_PROFILE=1 it instead runs each variant once under `node --cpu-prof` and prints
 * every thread's busy time per item and its top functions: where logging's time goes, by thread.
 */
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBenchConfig } from './bench-config.js';
import { BENCH_MODELS } from './bench-payloads.js';
import type { LoadRow } from './bench-report.js';
import { formatProfile, summariseProfiles } from './cpu-profile-summary.js';
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
  round: number;
  row: LoadRow;
  counters: string;
}

function log(line: string): void {
  process.stderr.write(`[payload-log] ${line}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Server CPU time per answered item, in µs: CPU% over the window divided by the item rate. */
function cpuPerItemUs(row: LoadRow): number {
  return (row.server.cpuPercent / 100) * 1e6 / row.load.requestsPerSecond;
}

/** A webhook that takes the connection and never answers; closing it frees what it holds. */
async function blackhole(): Promise<{ url: string; close(): void }> {
  const held: Socket[] = [];
  const server = createServer((socket) => held.push(socket)).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/payloads`,
    close() {
      for (const socket of held) socket.destroy();
      server.close();
    },
  };
}

async function main(): Promise<void> {
  if (process.env['PAYLOAD_LOG_PROFILE'] === '1') return profile();
  const config = readBenchConfig();
  const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 3) || 3);
  const model = BENCH_MODELS.find((m) => m.name === 'mlp')!;
  const hook = await blackhole();
  const results: Result[] = [];
  for (let round = 0; round < rounds; round++) {
    // Rotated so that no variant always runs right after a server start-up or at the same point of a drift.
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
    for (const variant of order) {
      const dir = mkdtempSync(join(tmpdir(), 'modelport-payload-bench-'));
      const metricsPort = await freePort();
      const server = await startModelport({ models: ['mlp'], serveArgs: ['--metrics-port', String(metricsPort), ...variant.args(dir, hook.url)] });
      try {
        log(`${variant.name}, round ${round + 1} of ${rounds}`);
        const row = await measureLevel(config, server.port, server.pid, model, 'binary', CONCURRENCY, true);
        const metrics = await fetchMetrics(metricsPort);
        results.push({ variant: variant.name, round, row, counters: metrics });
      } finally {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  hook.close();

  const rate = (variant: string, round: number) => results.find((r) => r.variant === variant && r.round === round)!.row.load.requestsPerSecond;
  const summary = VARIANTS.map((v) => {
    const mine = results.filter((r) => r.variant === v.name);
    const best = [...mine].sort((a, b) => b.row.load.requestsPerSecond - a.row.load.requestsPerSecond)[0]!;
    const ratios = mine.map((r) => r.row.load.requestsPerSecond / rate('off', r.round));
    return { variant: v.name, best, mine, ratio: median(ratios), ratios, cpuUs: median(mine.map((r) => cpuPerItemUs(r.row))) };
  });
  const offCpu = summary[0]!.cpuUs;
  const lines = [
    '## Payload logging',
    '',
    `\`npm run bench:payload-log\` on ${cpus().length} vCPU: \`mlp\`, binary batch-1 requests, concurrency ${CONCURRENCY}, the closed-loop client of \`npm run bench\``,
    `(${config.measureMs / 1000} s windows after ${config.warmupMs / 1000} s warm-up; ${rounds} rounds, the variants interleaved in a rotated order).`,
    'Goal: logging every request costs ≤ 5% of throughput; with the sink blocked, throughput is unchanged and drops are counted.',
    '"vs off" is the median over rounds of each window\'s ratio to the same round\'s "off" window; items/s, p50, p99 and the',
    'counters are from the variant\'s best window; server CPU µs/item is the median over rounds (server CPU time divided by items answered).',
    '',
    '| payload logging | best items/s | vs off (median, per round) | p50 ms | p99 ms | server CPU µs/item | peak RSS MB | sink counters at the end |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...summary.map((s) => {
      const load = s.best.row.load;
      const extra = s.variant === 'off' ? '' : ` (${s.cpuUs - offCpu >= 0 ? '+' : ''}${(s.cpuUs - offCpu).toFixed(1)})`;
      return (
        `| ${s.variant} | ${Math.round(load.requestsPerSecond)} | ${s.ratio.toFixed(3)}× (${s.ratios.map((r) => r.toFixed(2)).join(', ')}) | ` +
        `${load.latencyMs.p50.toFixed(2)} | ${load.latencyMs.p99.toFixed(2)} | ${s.cpuUs.toFixed(1)}${extra} | ${s.best.row.server.peakRssMb.toFixed(0)} | ${s.best.counters || '—'} |`
      );
    }),
    '',
    `All rounds (items/s): ${summary.map((s) => `${s.variant}: ${s.mine.map((r) => Math.round(r.row.load.requestsPerSecond)).join(', ')}`).join('; ')}.`,
  ];
  const report = lines.join('\n');
  process.stdout.write(`${report}\n`);
  const file = join(repoRoot, 'bench', 'README.md');
  writeFileSync(file, replaceSection(existsSync(file) ? readFileSync(file, 'utf8') : '', 'payload-log', report));
  log(`wrote ${file}`);
  if (results.some((r) => r.row.load.errors > 0)) process.exitCode = 1;
}

/** Each variant once under --cpu-prof: busy time per item of every thread, then its top functions. */
async function profile(): Promise<void> {
  const config = readBenchConfig();
  const model = BENCH_MODELS.find((m) => m.name === 'mlp')!;
  const hook = await blackhole();
  for (const variant of VARIANTS) {
    const dir = mkdtempSync(join(tmpdir(), 'modelport-payload-bench-'));
    const profiles = mkdtempSync(join(tmpdir(), 'modelport-payload-prof-'));
    const server = await startModelport({ models: ['mlp'], nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profiles], serveArgs: variant.args(dir, hook.url) });
    let row: LoadRow;
    try {
      row = await measureLevel(config, server.port, server.pid, model, 'binary', CONCURRENCY, true);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    // The profiles span start-up and shutdown too; per item is against the items of the window, so only comparable between variants.
    const items = row.load.requestsPerSecond * row.load.windowSeconds;
    const threads = summariseProfiles(profiles, 18);
    process.stdout.write(
      `\n=== ${variant.name}: ${Math.round(row.load.requestsPerSecond)} items/s, server CPU ${row.server.cpuPercent.toFixed(0)}%, ${cpuPerItemUs(row).toFixed(1)} µs/item; ` +
        `busy per thread: ${threads.map((t) => `${t.threadId === 0 ? 'main' : `thread ${t.threadId}`} ${t.busyMs.toFixed(0)} ms`).join(', ')}; profiles in ${profiles}\n`,
    );
    for (const thread of threads) process.stdout.write(`${formatProfile(thread)}\n\n`);
    process.stdout.write(`(${items.toFixed(0)} items in the window)\n`);
  }
  hook.close();
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
