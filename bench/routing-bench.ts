/**
 * What the model registry's traffic routing costs a request. `mlp`, binary batch-1 requests at
 * concurrency 16, driven by the serving benchmark's closed-loop client, against six servers, each
 * on its own temporary copy of examples/models/mlp (so the registry's SQLite file and uploaded
 * versions never land in the examples):
 *
 *   (a) `--registry off`: no release manager on the request path (the baseline);
 *   (b) registry on, no routing: route() falls through to the highest READY version;
 *   (c) a 90/10 split between version 1 and version 2 (buildMlpVariant, uploaded through
 *       POST /v1/models/mlp/versions, routed with PUT /v1/models/mlp/routing);
 *   (d) the same split with sticky: {header: 'x-modelport-key'}, every request carrying the key
 *       (the load client sends one pre-built request, so every request carries the same key;
 *       one that hashes onto the stable arm is picked, like 90% of real keys);
 *   (e) stable 100% on version 1, shadow to version 2 on 10% of requests;
 *   (f) the same shadow on 100% of requests.
 *
 * Two shared, noisy cores: the variants run in rounds (BENCH_ROUNDS, default 4), each round in a
 * rotated order. Each variant's best window is reported against (a)'s best, next to the median over
 * rounds of its ratio to the same round's (a) window (pairs measured seconds apart share the
 * background load), with the server's CPU time per answered request, which moves less with
 * contention than throughput does, and its model executions per request, which is where a split
 * or a shadow costs. The 1-minute load average is read before every window and printed under the
 * table, since other work may share the machine. Around each window the routing view
 * (/v1/models/mlp/routing) is read to show the traffic each arm and the shadow actually got.
 * Writes the `routing` section of bench/README.md.
 *
 *   node dist/bench/routing-bench.js      (BENCH_SECONDS, BENCH_WARMUP as for npm run bench; BENCH_ROUNDS)
 *
 * With ROUTING_PROFILE=1 it instead runs (a), (c), (d), (e) and (f) once each under `node --cpu-prof`
 * and prints every thread's busy time, the main thread's top functions and the self time of the
 * routing code (src/rollout/, the data plane) per request of the window — an overestimate, as the
 * profile also spans warm-up, set-up and shutdown — to show whether route()/observe() register.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareExamples } from '../scripts/prepare-examples.js';
import { EXAMPLE_MLP } from '../scripts/generate-mlp.js';
import { buildMlpVariant } from '../scripts/generate-test-models.js';
import { readBenchConfig, type BenchConfig } from './bench-config.js';
import { BENCH_MODELS } from './bench-payloads.js';
import { formatProfile, summariseProfile, summariseProfiles } from './cpu-profile-summary.js';
import { runLoad, type LoadResult } from './load-client.js';
import { payloadFor } from './measure-level.js';
import { examplesRepository, httpExchange, modelStats, repoRoot, startModelport, statsDelta, type ModelportProcess, type ServerWindowStats, type StatsSnapshot } from './modelport-process.js';
import { ProcessSampler, type ProcessWindow } from './process-sampler.js';
import { replaceSection } from './readme-sections.js';

const CONCURRENCY = 16;
const STICKY_HEADER = 'x-modelport-key';
const MODEL = BENCH_MODELS.find((m) => m.name === 'mlp')!;

interface Variant {
  id: string;
  label: string;
  registry: boolean;
  /** PUT /v1/models/mlp/routing body; version 2 is uploaded first when set. */
  routing?: Record<string, unknown>;
  sticky?: boolean;
}

const SPLIT = [
  { name: 'stable', version: 1, weight: 90 },
  { name: 'canary', version: 2, weight: 10 },
];

const VARIANTS: Variant[] = [
  { id: 'a', label: '(a) `--registry off`', registry: false },
  { id: 'b', label: '(b) registry on, no routing', registry: true },
  { id: 'c', label: '(c) split 90/10 (v1/v2)', registry: true, routing: { arms: SPLIT } },
  { id: 'd', label: '(d) split 90/10, sticky header', registry: true, routing: { arms: SPLIT, sticky: { header: STICKY_HEADER } }, sticky: true },
  { id: 'e', label: '(e) v1 100% + shadow v2 10%', registry: true, routing: { arms: [{ name: 'stable', version: 1, weight: 100 }], shadow: { version: 2, percent: 10 } } },
  { id: 'f', label: '(f) v1 100% + shadow v2 100%', registry: true, routing: { arms: [{ name: 'stable', version: 1, weight: 100 }], shadow: { version: 2, percent: 100 } } },
];

/** The routing view's counters, summed over the arms: what a window's traffic did. */
interface RoutingCounts {
  arms: Map<string, number>;
  mirrored: number;
  agreed: number;
  disagreed: number;
  failed: number;
}

interface Window {
  load: LoadResult;
  server: ProcessWindow;
  client: ProcessWindow;
  stats: ServerWindowStats | undefined;
  /** Model executions (batches run, shadow ones included) per answered request over the window. */
  executionsPerRequest: number;
  /** What the routing view counted over the window (undefined with the registry off). */
  traffic: string;
  loadAvg: number;
}

interface Result {
  variant: Variant;
  round: number;
  window: Window;
}

function log(line: string): void {
  process.stderr.write(`[routing] ${line}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Server CPU time per answered request, µs: far steadier than throughput on shared cores. */
function cpuPerItemUs(window: Window): number {
  return ((window.server.cpuPercent / 100) * 1e6) / window.load.requestsPerSecond;
}

const ACTOR = { 'x-modelport-actor': 'routing-bench' };

async function managementCall(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const raw = body instanceof Uint8Array ? Buffer.from(body) : body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  const allHeaders = { ...ACTOR, ...(body !== undefined && !(body instanceof Uint8Array) ? { 'content-type': 'application/json' } : {}), ...headers };
  const answer = await httpExchange(port, method, path, allHeaders, raw);
  const text = answer.body.toString('utf8');
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: answer.status, json, text };
}

async function routingCounts(port: number): Promise<RoutingCounts | undefined> {
  const answer = await managementCall(port, 'GET', '/v1/models/mlp/routing').catch(() => undefined);
  if (answer?.status !== 200) return undefined;
  const view = answer.json as { arms?: Array<{ arm: string; requests: number }>; shadow?: { mirrored: number; agreed: number; disagreed: number; failed: number } };
  return {
    arms: new Map((view.arms ?? []).map((a) => [a.arm, a.requests])),
    mirrored: view.shadow?.mirrored ?? 0,
    agreed: view.shadow?.agreed ?? 0,
    disagreed: view.shadow?.disagreed ?? 0,
    failed: view.shadow?.failed ?? 0,
  };
}

/** "stable 90.1%, canary 9.9%; shadow 10.0% (agreed 0, disagreed 512)" over the window. */
function describeTraffic(before: RoutingCounts | undefined, after: RoutingCounts | undefined): string {
  if (!before || !after) return '—';
  const deltas = [...after.arms].map(([arm, n]) => [arm, n - (before.arms.get(arm) ?? 0)] as const).filter(([, n]) => n > 0);
  const total = deltas.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return 'no per-arm counts (no routing: highest READY version)';
  const parts = [deltas.map(([arm, n]) => `${arm} ${((n / total) * 100).toFixed(1)}%`).join(', ')];
  const mirrored = after.mirrored - before.mirrored;
  if (mirrored > 0) {
    parts.push(
      `shadow ${((mirrored / total) * 100).toFixed(1)}% (agreed ${after.agreed - before.agreed}, disagreed ${after.disagreed - before.disagreed}, failed ${after.failed - before.failed})`,
    );
  }
  return parts.join('; ');
}

/** A temporary model repository holding a copy of the example `mlp` (version 1 and its config). */
function temporaryRepository(): { root: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'modelport-routing-bench-'));
  const root = join(dir, 'models');
  cpSync(join(examplesRepository, 'mlp'), join(root, 'mlp'), { recursive: true });
  return { root, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts the server for a variant and brings its routing in force; returns the sticky key to send, if any. */
async function startVariant(variant: Variant, root: string, nodeArgs: string[] = []): Promise<{ server: ModelportProcess; stickyKey: string | undefined }> {
  const server = await startModelport({ repository: root, models: ['mlp'], nodeArgs, serveArgs: variant.registry ? [] : ['--registry', 'off'] });
  try {
    let stickyKey: string | undefined;
    if (variant.routing) {
      const uploaded = await managementCall(server.port, 'POST', '/v1/models/mlp/versions', buildMlpVariant(EXAMPLE_MLP.seed + 1), { 'content-type': 'application/octet-stream' });
      if (uploaded.status !== 201 || uploaded.json?.version !== 2) throw new Error(`upload of version 2 answered ${uploaded.status}: ${uploaded.text.slice(0, 300)}`);
      const routed = await managementCall(server.port, 'PUT', '/v1/models/mlp/routing', variant.routing);
      if (routed.status !== 200) throw new Error(`PUT routing answered ${routed.status}: ${routed.text.slice(0, 300)}`);
      for (const version of [1, 2]) {
        const deadline = Date.now() + 30_000;
        while ((await httpExchange(server.port, 'GET', `/v2/models/mlp/versions/${version}/ready`)).status !== 200) {
          if (Date.now() > deadline) throw new Error(`version ${version} not ready 30 s after the routing change`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      if (variant.sticky) stickyKey = await stableKey(server.port);
    }
    return { server, stickyKey };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** The first of user-1, user-2… whose requests the split sends to the stable arm. */
async function stableKey(port: number): Promise<string> {
  const payload = payloadFor(MODEL, 'binary');
  for (let i = 1; i <= 100; i++) {
    const key = `user-${i}`;
    const answer = await httpExchange(port, 'POST', payload.path, { ...payload.headers, [STICKY_HEADER]: key }, payload.body);
    if (answer.status !== 200) throw new Error(`infer with a sticky key answered ${answer.status}: ${answer.body.toString('utf8', 0, 300)}`);
    if (answer.headers['x-modelport-arm'] === 'stable') return key;
  }
  throw new Error('no key among user-1…user-100 landed on the stable arm');
}

/** One load window: the closed-loop client, /proc of both processes, statistics and routing counts around it. */
async function measure(config: BenchConfig, server: ModelportProcess, stickyKey: string | undefined, withRouting: boolean): Promise<Window> {
  const payload = payloadFor(MODEL, 'binary');
  const headers = stickyKey === undefined ? payload.headers : { ...payload.headers, [STICKY_HEADER]: stickyKey };
  const serverSampler = new ProcessSampler(server.pid);
  let clientSampler: ProcessSampler | undefined;
  let serverWindow: ProcessWindow = { cpuPercent: Number.NaN, peakRssMb: Number.NaN };
  let clientWindow: ProcessWindow = { cpuPercent: Number.NaN, peakRssMb: Number.NaN };
  let statsBefore: StatsSnapshot | undefined;
  let statsAfter: StatsSnapshot | undefined;
  let routingBefore: RoutingCounts | undefined;
  let routingAfter: RoutingCounts | undefined;
  const loadAvg = loadavg()[0]!;
  const load = await runLoad(
    {
      host: '127.0.0.1',
      port: server.port,
      path: payload.path,
      headers,
      bodyBase64: payload.body.toString('base64'),
      concurrency: CONCURRENCY,
      warmupMs: config.warmupMs,
      measureMs: config.measureMs,
      subWindowMs: config.subWindowMs,
    },
    {
      async onMeasureStart(clientPid) {
        serverSampler.start();
        clientSampler = new ProcessSampler(clientPid);
        clientSampler.start();
        statsBefore = await modelStats(server.port, MODEL.name);
        if (withRouting) routingBefore = await routingCounts(server.port);
      },
      async onMeasureEnd() {
        serverWindow = serverSampler.stop();
        if (clientSampler) clientWindow = clientSampler.stop();
        statsAfter = await modelStats(server.port, MODEL.name);
        if (withRouting) routingAfter = await routingCounts(server.port);
      },
    },
  );
  return {
    load,
    server: serverWindow,
    client: clientWindow,
    stats: statsDelta(statsBefore, statsAfter),
    executionsPerRequest: statsBefore && statsAfter && load.completed > 0 ? (statsAfter.executionCount - statsBefore.executionCount) / load.completed : Number.NaN,
    traffic: withRouting ? describeTraffic(routingBefore, routingAfter) : '—',
    loadAvg,
  };
}

function describeWindow(window: Window): string {
  const errors = window.load.errors > 0 ? `, ${window.load.errors} ERRORS ${JSON.stringify(window.load.errorKinds)}` : '';
  return (
    `${Math.round(window.load.requestsPerSecond)} items/s, p50 ${window.load.latencyMs.p50.toFixed(3)} ms, p99 ${window.load.latencyMs.p99.toFixed(3)} ms, ` +
    `server CPU ${window.server.cpuPercent.toFixed(0)}% (${cpuPerItemUs(window).toFixed(1)} µs/item), avg batch ${window.stats?.avgBatch.toFixed(1) ?? '?'}, ` +
    `${window.executionsPerRequest.toFixed(2)} executions/request, ` +
    `load avg before ${window.loadAvg.toFixed(2)}; ${window.traffic}${errors}`
  );
}

async function main(): Promise<void> {
  if (!existsSync(join(examplesRepository, 'mlp', '1', 'model.onnx'))) await prepareExamples(examplesRepository);
  if (process.env['ROUTING_PROFILE'] === '1') return profile();
  const config = readBenchConfig();
  const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 4) || 4);
  const started = performance.now();
  const results: Result[] = [];
  for (let round = 0; round < rounds; round++) {
    // Rotated so that no variant always follows the same one or sits at the same point of a drift.
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
    for (const variant of order) {
      const repo = temporaryRepository();
      try {
        const { server, stickyKey } = await startVariant(variant, repo.root);
        try {
          log(`${variant.label}, round ${round + 1} of ${rounds}${stickyKey ? ` (key ${stickyKey})` : ''}`);
          const window = await measure(config, server, stickyKey, variant.registry);
          log(`  ${describeWindow(window)}`);
          results.push({ variant, round, window });
        } finally {
          await server.stop();
        }
      } finally {
        repo.cleanup();
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;

  const baseline = (round: number) => results.find((r) => r.variant.id === 'a' && r.round === round)!.window.load.requestsPerSecond;
  const summary = VARIANTS.map((variant) => {
    const mine = results.filter((r) => r.variant.id === variant.id).sort((x, y) => x.round - y.round);
    const best = [...mine].sort((x, y) => y.window.load.requestsPerSecond - x.window.load.requestsPerSecond)[0]!;
    const ratios = mine.map((r) => r.window.load.requestsPerSecond / baseline(r.round));
    return {
      variant,
      mine,
      best,
      ratios,
      ratio: median(ratios),
      cpuUs: median(mine.map((r) => cpuPerItemUs(r.window))),
      executions: median(mine.map((r) => r.window.executionsPerRequest)),
    };
  });
  const base = summary[0]!;
  const loads = results.map((r) => r.window.loadAvg);
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(0)}`;
  const lines = [
    '## Traffic routing',
    '',
    `\`node dist/bench/routing-bench.js\` on ${cpus().length} vCPU (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}: \`mlp\`, binary batch-1 requests,`,
    `concurrency ${CONCURRENCY}, the closed-loop client of \`npm run bench\` (${config.warmupMs / 1000} s warm-up + ${config.measureMs / 1000} s windows; ${rounds} rounds,`,
    `the variants interleaved in a rotated order, each server on a fresh temporary copy of examples/models/mlp; whole run ${Math.round(seconds)} s).`,
    "Version 2 is `buildMlpVariant` (the example's architecture, other weights), uploaded through `POST /v1/models/mlp/versions`",
    `and routed with \`PUT /v1/models/mlp/routing\`. In (d) every request carries the same \`${STICKY_HEADER}\` value, one that hashes`,
    'onto the stable arm (the load client sends one pre-built request): no request of (d) reaches version 2, which only sits loaded.',
    '',
    "Items/s, p50, p99 and server CPU % come from each variant's best window. \"vs (a), best\" is that window against (a)'s best;",
    '"per round" is the median over rounds of each window against the same round\'s (a) window (every round in brackets).',
    'Server CPU µs/item (median over rounds, change against (a) in brackets) is server CPU time, all threads, per answered request.',
    'Executions/request is model runs (batches, shadow runs included) per answered request, from the statistics endpoint.',
    '"traffic" is what the routing view counted in the best window: requests per arm, and requests mirrored to the shadow.',
    '',
    '| variant | items/s | vs (a), best | vs (a), per round | p50 ms | p99 ms | server CPU % | server CPU µs/item | executions/request | avg batch | traffic | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...summary.map((s) => {
      const w = s.best.window;
      const delta = s.variant.id === 'a' ? '' : ` (${signed(s.cpuUs - base.cpuUs)})`;
      const errors = s.mine.reduce((sum, r) => sum + r.window.load.errors, 0);
      return (
        `| ${s.variant.label} | ${Math.round(w.load.requestsPerSecond).toLocaleString('en-US')} | ` +
        `${(w.load.requestsPerSecond / base.best.window.load.requestsPerSecond).toFixed(2)}× | ${s.ratio.toFixed(2)}× (${s.ratios.map((r) => r.toFixed(2)).join(', ')}) | ` +
        `${w.load.latencyMs.p50.toFixed(2)} | ${w.load.latencyMs.p99.toFixed(2)} | ${w.server.cpuPercent.toFixed(0)} | ${s.cpuUs.toFixed(0)}${delta} | ` +
        `${s.executions.toFixed(2)} | ${w.stats?.avgBatch.toFixed(1) ?? '—'} | ${w.traffic} | ${errors} |`
      );
    }),
    '',
    `All windows (items/s, in round order): ${summary.map((s) => `${s.variant.id}: ${s.mine.map((r) => Math.round(r.window.load.requestsPerSecond)).join(', ')}`).join('; ')}.`,
    `1-minute load average (os.loadavg) read before each window: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} ` +
      `(by round: ${Array.from({ length: rounds }, (_, round) => results.filter((r) => r.round === round).map((r) => `${r.variant.id} ${r.window.loadAvg.toFixed(1)}`).join(', ')).join(' | ')}).`,
    "This benchmark's own client and server account for about 2 of it; anything above that is other work sharing the two cores, which",
    'shows as server CPU well under the ~130–150% an undisturbed server reaches here and as rounds whose ratios disagree.',
  ];
  const report = lines.join('\n');
  process.stdout.write(`${report}\n`);
  const file = join(repoRoot, 'bench', 'README.md');
  writeFileSync(file, replaceSection(existsSync(file) ? readFileSync(file, 'utf8') : '', 'routing', report));
  log(`wrote ${file}`);
  if (results.some((r) => r.window.load.errors > 0)) process.exitCode = 1;
}

/** Self time of the routing code on the main thread: functions of src/rollout/ and the data plane. */
function routingSelfTime(file: string): Array<{ name: string; ms: number }> {
  const all = summariseProfile(file, Number.MAX_SAFE_INTEGER).top;
  return all
    .filter((f) => /\/(rollout|dataplane)\//.test(f.url))
    .map((f) => ({ name: `${f.functionName} (${f.url.slice(f.url.lastIndexOf('/') + 1)})`, ms: f.selfMs }));
}

/** (a), (c), (d), (e), (f) once each under --cpu-prof: where the routing variants' extra time goes. */
async function profile(): Promise<void> {
  const config = readBenchConfig();
  for (const id of ['a', 'c', 'd', 'e', 'f']) {
    const variant = VARIANTS.find((v) => v.id === id)!;
    const repo = temporaryRepository();
    const profiles = mkdtempSync(join(tmpdir(), 'modelport-routing-prof-'));
    let window: Window;
    try {
      const { server, stickyKey } = await startVariant(variant, repo.root, ['--cpu-prof', '--cpu-prof-dir', profiles]);
      try {
        window = await measure(config, server, stickyKey, variant.registry);
      } finally {
        await server.stop();
      }
    } finally {
      repo.cleanup();
    }
    // The profiles span start-up, set-up and shutdown as well: per-item figures compare variants, nothing more.
    const items = window.load.requestsPerSecond * window.load.windowSeconds;
    const threads = summariseProfiles(profiles, 20);
    process.stdout.write(
      `\n=== ${variant.label}: ${describeWindow(window)}\n` +
        `busy per thread: ${threads.map((t) => `${t.threadId === 0 ? 'main' : `thread ${t.threadId}`} ${t.busyMs.toFixed(0)} ms`).join(', ')}; profiles in ${profiles}\n`,
    );
    const main = threads.find((t) => t.threadId === 0);
    if (main) {
      process.stdout.write(`${formatProfile(main)}\n`);
      const routing = routingSelfTime(main.file).sort((x, y) => y.ms - x.ms);
      const total = routing.reduce((sum, f) => sum + f.ms, 0);
      process.stdout.write(`routing and data-plane code on the main thread: ${total.toFixed(1)} ms self in all, ${((total * 1000) / items).toFixed(2)} µs per item in the window (${items.toFixed(0)} items)\n`);
      for (const f of routing.slice(0, 15)) process.stdout.write(`${f.ms.toFixed(1).padStart(10)} ms  ${f.name}\n`);
    }
  }
}

main().catch((error: unknown) => {
  log(String((error as Error)?.stack ?? error));
  process.exit(1);
});
