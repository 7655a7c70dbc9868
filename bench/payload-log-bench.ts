/**
 * What payload logging costs: `mlp`, binary batch-1 requests at concurrency 16, driven by the
 * serving benchmark's closed-loop client against three servers — payload logging off, on at 100%
 * sampling into rotating JSONL files, and on at 100% into a webhook that accepts connections and
 * never answers (a blocked sink). The three servers are started once; the variants then run in
 * rounds of short windows (BENCH_ROUNDS, default 10; 3 s after 1 s of warm-up), each round in a
 * rotated order, because the two shared cores make single windows noisy (±25%) and slow drifts
 * in background load would otherwise favour whichever variant runs first. Reports the best
 * window, the median and quartiles of each round's ratio to that round's "off" window (pairs
 * measured seconds apart share the background load), and the server's CPU time per item, which
 * moves less with contention than throughput does. Writes the `payload-log` section of
 * bench/README.md.
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
import { freePort, repoRoot, startModelport, type ModelportProcess } from './modelport-process.js';
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

/** The q-quantile, interpolated between the closest ranks. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low);
}

function median(values: number[]): number {
  return quantile(values, 0.5);
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
  const base = readBenchConfig();
  // Short windows, many rounds: background load on this shared host drifts over tens of seconds,
  // so windows measured seconds apart compare far better than long windows minutes apart.
  const config = {
    ...base,
    warmupMs: process.env['BENCH_WARMUP'] ? base.warmupMs : 1000,
    measureMs: process.env['BENCH_SECONDS'] ? base.measureMs : 3000,
  };
  const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 10) || 10);
  const model = BENCH_MODELS.find((m) => m.name === 'mlp')!;
  const hook = await blackhole();
  const results: Result[] = [];
  // One server per variant, all started first and kept: an idle server costs nothing, and every
  // round then measures the same three processes back to back.
  const servers: Array<{ variant: Variant; server: ModelportProcess; metricsPort: number; dir: string }> = [];
  try {
    for (const variant of VARIANTS) {
      const dir = mkdtempSync(join(tmpdir(), 'modelport-payload-bench-'));
      const metricsPort = await freePort();
      const server = await startModelport({ models: ['mlp'], serveArgs: ['--metrics-port', String(metricsPort), ...variant.args(dir, hook.url)] });
      servers.push({ variant, server, metricsPort, dir });
    }
    for (let round = 0; round < rounds; round++) {
      // Rotated so that no variant always runs first or at the same point of a drift.
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      log(`round ${round + 1} of ${rounds}`);
      for (const { variant, server, metricsPort } of order) {
        const row = await measureLevel(config, server.port, server.pid, model, 'binary', CONCURRENCY, true);
        results.push({ variant: variant.name, round, row, counters: await fetchMetrics(metricsPort) });
      }
    }
  } finally {
    for (const { server, dir } of servers) {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  hook.close();

  const rate = (variant: string, round: number) => results.find((r) => r.variant === variant && r.round === round)!.row.load.requestsPerSecond;
  const summary = VARIANTS.map((v) => {
    const mine = results.filter((r) => r.variant === v.name);
    const best = [...mine].sort((a, b) => b.row.load.requestsPerSecond - a.row.load.requestsPerSecond)[0]!;
    const ratios = mine.map((r) => r.row.load.requestsPerSecond / rate('off', r.round));
    const last = mine[mine.length - 1]!;
    return { variant: v.name, best, last, mine, ratio: median(ratios), ratios, cpuUs: median(mine.map((r) => cpuPerItemUs(r.row))) };
  });
  const offCpu = summary[0]!.cpuUs;
  const lines = [
    '## Payload logging',
    '',
    `\`npm run bench:payload-log\` on ${cpus().length} vCPU: \`mlp\`, binary batch-1 requests, concurrency ${CONCURRENCY}, the closed-loop client of \`npm run bench\``,
    `(one server per variant, started once; ${rounds} rounds of ${config.measureMs / 1000} s windows after ${config.warmupMs / 1000} s warm-up, the variants interleaved in a rotated order).`,
    'Goal: logging every request costs ≤ 5% of throughput; with the sink blocked, throughput is unchanged and drops are counted.',
    '"vs off" is the median over rounds of each window\'s ratio to the same round\'s "off" window, with the quartiles of those',
    'ratios; items/s, p50 and p99 are from the variant\'s best window; server CPU µs/item is the median over rounds (server CPU',
    'time divided by items answered); the counters are the server\'s totals after the last round.',
    '',
    '| payload logging | best items/s | vs off: median [quartiles] | p50 ms | p99 ms | server CPU µs/item | peak RSS MB | sink counters at the end |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...summary.map((s) => {
      const load = s.best.row.load;
      const extra = s.variant === 'off' ? '' : ` (${s.cpuUs - offCpu >= 0 ? '+' : ''}${(s.cpuUs - offCpu).toFixed(1)})`;
      return (
        `| ${s.variant} | ${Math.round(load.requestsPerSecond)} | ${s.ratio.toFixed(3)}× [${quantile(s.ratios, 0.25).toFixed(2)}, ${quantile(s.ratios, 0.75).toFixed(2)}] | ` +
        `${load.latencyMs.p50.toFixed(2)} | ${load.latencyMs.p99.toFixed(2)} | ${s.cpuUs.toFixed(1)}${extra} | ${Math.max(...s.mine.map((r) => r.row.server.peakRssMb)).toFixed(0)} | ${s.last.counters || '—'} |`
      );
    }),
    '',
    `All rounds (items/s): ${summary.map((s) => `${s.variant}: ${s.mine.map((r) => Math.round(r.row.load.requestsPerSecond)).join(', ')}`).join('; ')}.`,
    '',
    `Ratios to the same round's "off" window: ${summary.slice(1).map((s) => `${s.variant}: ${s.ratios.map((r) => r.toFixed(2)).join(', ')}`).join('; ')}.`,
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
