/**
 * The closed-loop load generator every HTTP figure of the benchmark comes from, Modelport's and the
 * bare node:http baseline's alike. It runs in its own child process (forked by runLoad, driven over
 * IPC) so that client and server are separate processes, as a real client would be: N keep-alive
 * connections, each sending its next request the moment the previous answer has fully arrived
 * (no pipelining), over raw TCP sockets with one pre-built request buffer. Raw sockets cost the
 * client the least CPU: no ClientRequest/IncomingMessage objects, header maps or agent bookkeeping
 * per request, just one write and a scan of the answer's head, which matters when client and
 * server share a few cores. Latency is taken per request with process.hrtime.bigint(), from the
 * write to the last byte of the answer.
 */
import { fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface LoadSpec {
  host: string;
  port: number;
  /** Request path, e.g. /v2/models/mlp/infer. */
  path: string;
  /** Extra request headers (Content-Type, Inference-Header-Content-Length). */
  headers: Record<string, string>;
  /** Request body, base64 (it crosses the IPC channel as JSON). */
  bodyBase64: string;
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  /** Length of the sub-windows whose throughput spread tells whether the window was stable. */
  subWindowMs: number;
}

export interface LoadResult {
  /** Requests answered 200 inside the measurement window. */
  completed: number;
  /** Actual measurement window length. */
  windowSeconds: number;
  requestsPerSecond: number;
  latencyMs: { min: number; mean: number; p50: number; p90: number; p95: number; p99: number; max: number };
  /** Answers other than 200 and connection failures, over warm-up and measurement. */
  errors: number;
  /** Status code (or error message) → count, for the report when errors happened. */
  errorKinds: Record<string, number>;
  /** Requests still unanswered when the run ended (after a grace period). */
  unfinished: number;
  /** Completed requests per sub-window, for the stability check. */
  subWindowCounts: number[];
}

/** Messages the client sends its parent. */
type ClientMessage =
  | { type: 'measure-start' }
  | { type: 'measure-end' }
  | { type: 'result'; result: LoadResult }
  | { type: 'failed'; message: string };

export interface LoadHooks {
  /** Called when the client starts counting (snapshot server statistics and /proc here). */
  onMeasureStart?(clientPid: number): void | Promise<void>;
  /** Called when the client stops counting. */
  onMeasureEnd?(clientPid: number): void | Promise<void>;
}

/** Forks a client process, runs one load level and resolves with its figures. */
export function runLoad(spec: LoadSpec, hooks: LoadHooks = {}): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    const pid = child.pid ?? 0;
    let settled = false;
    const hookWork: Array<Promise<void>> = [];
    child.on('message', (raw) => {
      const message = raw as ClientMessage;
      if (message.type === 'measure-start' && hooks.onMeasureStart) hookWork.push(Promise.resolve(hooks.onMeasureStart(pid)));
      else if (message.type === 'measure-end' && hooks.onMeasureEnd) hookWork.push(Promise.resolve(hooks.onMeasureEnd(pid)));
      else if (message.type === 'result') {
        settled = true;
        // Hooks finish before the result is handed on so snapshots always pair with it.
        Promise.all(hookWork).then(() => resolve(message.result), reject);
        child.disconnect();
      } else if (message.type === 'failed') {
        settled = true;
        reject(new Error(`load client failed: ${message.message}`));
        child.kill();
      }
    });
    child.on('exit', (code) => {
      if (!settled) reject(new Error(`load client exited with code ${code} before reporting`));
    });
    child.send(spec);
  });
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CHUNKED_END = Buffer.from('\r\n0\r\n\r\n');

/**
 * One keep-alive connection with at most one request outstanding. The answer's head is scanned
 * once for its status, Content-Length or chunked coding and Connection: close; the body is only
 * counted, never copied or parsed.
 */
class Connection {
  #socket: Socket | undefined;
  #pending: Buffer | undefined;
  #sentAt = 0n;
  #status = 0;
  /** Body bytes still expected; -1 while the head is incomplete, -2 for a chunked body. */
  #remaining = -1;
  #close = false;
  #inFlight = false;

  constructor(
    private readonly spec: LoadSpec,
    private readonly request: Buffer,
    private readonly onDone: (connection: Connection, status: number | string, sentAt: bigint, doneAt: bigint) => void,
  ) {}

  get inFlight(): boolean {
    return this.#inFlight;
  }

  send(): void {
    if (this.#socket === undefined || this.#socket.destroyed) this.#open();
    this.#inFlight = true;
    this.#remaining = -1;
    this.#pending = undefined;
    this.#sentAt = process.hrtime.bigint();
    this.#socket!.write(this.request);
  }

  destroy(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #open(): void {
    const socket = connect({ host: this.spec.host, port: this.spec.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error: Error) => this.#fail(socket, error.message));
    socket.on('close', () => this.#fail(socket, 'connection closed by server'));
    this.#socket = socket;
  }

  #fail(socket: Socket, why: string): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    socket.destroy();
    if (!this.#inFlight) return;
    this.#inFlight = false;
    this.onDone(this, why, this.#sentAt, process.hrtime.bigint());
  }

  #onData(chunk: Buffer): void {
    if (!this.#inFlight) return;
    if (this.#remaining === -1) {
      const data = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
      const headEnd = data.indexOf(CRLF2);
      if (headEnd < 0) {
        this.#pending = data;
        return;
      }
      this.#pending = undefined;
      const head = data.toString('latin1', 0, headEnd);
      this.#status = Number(head.slice(9, 12));
      this.#close = /\r\nconnection:\s*close/i.test(head);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length) {
        this.#remaining = Number(length[1]) - (data.length - headEnd - 4);
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        this.#remaining = -2;
        this.#pending = data.subarray(headEnd + 2);
        if (this.#pending.indexOf(CHUNKED_END) >= 0) this.#complete();
        return;
      } else {
        this.#remaining = 0;
      }
      if (this.#remaining <= 0) this.#complete();
      return;
    }
    if (this.#remaining === -2) {
      // Only the tail matters for spotting the last chunk; keep a few bytes of history.
      const tail = this.#pending === undefined ? chunk : Buffer.concat([this.#pending.subarray(-8), chunk]);
      if (tail.indexOf(CHUNKED_END) >= 0) this.#complete();
      else this.#pending = tail;
      return;
    }
    this.#remaining -= chunk.length;
    if (this.#remaining <= 0) this.#complete();
  }

  #complete(): void {
    const doneAt = process.hrtime.bigint();
    this.#inFlight = false;
    this.#pending = undefined;
    if (this.#close) this.destroy();
    this.onDone(this, this.#status, this.#sentAt, doneAt);
  }
}

function buildRequest(spec: LoadSpec): Buffer {
  const body = Buffer.from(spec.bodyBase64, 'base64');
  let head = `POST ${spec.path} HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\nConnection: keep-alive\r\n`;
  for (const [name, value] of Object.entries(spec.headers)) head += `${name}: ${value}\r\n`;
  head += `Content-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

async function clientMain(spec: LoadSpec): Promise<LoadResult> {
  const request = buildRequest(spec);
  const send = (message: ClientMessage) => process.send!(message);
  // Room for ~200k answers/s over the window; grows if ever needed.
  let latencies = new Float64Array(Math.max(1024, Math.ceil((spec.measureMs / 1000) * 200_000)));
  let count = 0;
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  const subWindows = Math.max(1, Math.round(spec.measureMs / spec.subWindowMs));
  const subWindowCounts = new Array<number>(subWindows).fill(0);
  const subWindowNs = BigInt(Math.round((spec.measureMs * 1e6) / subWindows));

  const start = process.hrtime.bigint();
  const measureStart = start + BigInt(spec.warmupMs) * 1_000_000n;
  const measureEnd = measureStart + BigInt(spec.measureMs) * 1_000_000n;
  let stopping = false;

  const connections: Connection[] = [];
  let resolveDrained: () => void = () => {};
  const drained = new Promise<void>((resolve) => (resolveDrained = resolve));

  const onDone = (connection: Connection, status: number | string, sentAt: bigint, doneAt: bigint): void => {
    if (status !== 200) {
      errors += 1;
      const kind = String(status);
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    } else if (doneAt >= measureStart && doneAt < measureEnd) {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = Number(doneAt - sentAt) / 1e6;
      const slot = Number((doneAt - measureStart) / subWindowNs);
      if (slot < subWindows) subWindowCounts[slot]! += 1;
    }
    if (stopping || doneAt >= measureEnd) {
      stopping = true;
      if (connections.every((c) => !c.inFlight)) resolveDrained();
      return;
    }
    // A failed connection is reopened by send(); back off briefly so a dead server does not spin.
    if (typeof status === 'string') {
      setTimeout(() => {
        if (!stopping) connection.send();
        else if (connections.every((c) => !c.inFlight)) resolveDrained();
      }, 10);
    } else {
      connection.send();
    }
  };

  for (let i = 0; i < spec.concurrency; i++) connections.push(new Connection(spec, request, onDone));
  for (const connection of connections) connection.send();

  setTimeout(() => send({ type: 'measure-start' }), spec.warmupMs);
  await new Promise((resolve) => setTimeout(resolve, spec.warmupMs + spec.measureMs));
  stopping = true;
  send({ type: 'measure-end' });
  if (connections.some((c) => c.inFlight)) {
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  }
  const unfinished = connections.filter((c) => c.inFlight).length;
  for (const connection of connections) connection.destroy();

  const windowSeconds = spec.measureMs / 1000;
  const sorted = latencies.subarray(0, count).sort();
  let sum = 0;
  for (let i = 0; i < count; i++) sum += sorted[i]!;
  return {
    completed: count,
    windowSeconds,
    requestsPerSecond: count / windowSeconds,
    latencyMs: {
      min: count ? sorted[0]! : Number.NaN,
      mean: count ? sum / count : Number.NaN,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: count ? sorted[count - 1]! : Number.NaN,
    },
    errors,
    errorKinds,
    unfinished,
    subWindowCounts,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  // Without its parent there is nobody to report to.
  process.on('disconnect', () => process.exit(0));
  process.once('message', (spec: LoadSpec) => {
    clientMain(spec).then(
      (result) => process.send!({ type: 'result', result } satisfies ClientMessage),
      (error: unknown) => process.send!({ type: 'failed', message: String((error as Error)?.stack ?? error) } satisfies ClientMessage),
    );
  });
}
