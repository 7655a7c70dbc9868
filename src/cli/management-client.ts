/**
 * What the management commands (push, versions, alias, route, rollout, rollback, audit) share:
 * the options every one of them takes (--url, --json, --actor), a small client for the /v1/
 * routes (JSON requests, streamed uploads, the actor header, the server's `{"error": ...}` message
 * as the failure) and output helpers.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { userInfo } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { authorizationHeader } from './http-client.js';

/** 127.0.0.1 rather than localhost: Node may resolve localhost to ::1 while the server listens on IPv4. */
export const MANAGEMENT_URL = 'http://127.0.0.1:8000';

export interface ClientFlags {
  url: string;
  json?: boolean;
  actor: string;
  token?: string;
}

type Query = Record<string, string | number | boolean | undefined>;

function defaultActor(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers).
    return process.env.USER ?? 'cli';
  }
}

/** Adds --url, --json and --actor to a command. */
export function clientOptions(command: Command): Command {
  return command
    .option('--url <url>', 'server base URL', MANAGEMENT_URL)
    .option('--json', 'print the server\'s answer as JSON')
    .option('--actor <name>', 'who is asking, for the audit log', defaultActor())
    .option('--token <token>', 'API key or JWT to send (default: $MODELPORT_TOKEN)');
}

/** A failure the server reported: its own message, with the status for whoever wants it. */
export class ServerError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'ServerError';
    this.status = status;
  }
}

/** `v1/models/<model>/<rest…>` with every segment escaped. */
export function modelPath(model: string, ...rest: string[]): string {
  return ['v1', 'models', model, ...rest].map((segment, i) => (i < 2 ? segment : encodeURIComponent(segment))).join('/');
}

export class ManagementClient {
  readonly #base: string;
  readonly #actor: string;
  readonly #auth: Record<string, string>;

  constructor(flags: Pick<ClientFlags, 'url' | 'actor' | 'token'>) {
    this.#base = flags.url.endsWith('/') ? flags.url : `${flags.url}/`;
    this.#actor = flags.actor;
    this.#auth = authorizationHeader(flags.token);
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.#json<T>('GET', path, undefined, query);
  }

  put<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.#json<T>('PUT', path, body, query);
  }

  post<T>(path: string, body: unknown = {}, query?: Query): Promise<T> {
    return this.#json<T>('POST', path, body, query);
  }

  async delete(path: string): Promise<void> {
    await this.#send('DELETE', path, {});
  }

  /** Streams `file` as the body; the server checks it against `digest` as it arrives. */
  async upload<T>(path: string, file: string, digest: string, query: Query): Promise<T> {
    const body = Readable.toWeb(createReadStream(file));
    const response = await this.#send('POST', path, {
      headers: { 'content-type': 'application/octet-stream', 'x-modelport-digest': digest },
      // undici streams a web ReadableStream; duplex 'half' is what it requires for one.
      body: body as unknown as RequestInit['body'],
      duplex: 'half',
      query,
    });
    return (await response.json()) as T;
  }

  async #json<T>(method: string, path: string, body: unknown, query: Query | undefined): Promise<T> {
    const response = await this.#send(method, path, {
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
      ...(query ? { query } : {}),
    });
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  async #send(
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: RequestInit['body']; duplex?: 'half'; query?: Query },
  ): Promise<Response> {
    const url = new URL(path, this.#base);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { 'x-modelport-actor': this.#actor, ...this.#auth, ...options.headers },
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.duplex ? { duplex: options.duplex } : {}),
      } as RequestInit);
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach ${url.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    if (!response.ok) {
      const text = await response.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        // not JSON (a proxy's page…): show it as it is
      }
      throw new ServerError(response.status, message || `HTTP ${response.status} ${response.statusText}`);
    }
    return response;
  }
}

/** "sha256:<hex>" of a file, read as a stream. */
export async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return `sha256:${hash.digest('hex')}`;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(...lines: string[]): void {
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "2024-05-01 12:00:00" from an ISO time: tables stay narrow, and the zone is always UTC. */
export function formatTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.[0-9]+Z$|Z$/, '');
}

/** sha256:0123456789ab… */
export function shortDigest(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
