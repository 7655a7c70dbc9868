/**
 * The server's configuration: one schema, fed (lowest to highest precedence) by defaults, an
 * optional JSON/YAML file, MODELPORT_* environment variables and command-line flags. It is
 * validated once at start; a bad value stops start-up with a message naming the key.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_REQUEST_LIMITS, mpError } from '../core/index.js';

export type ModelControlMode = 'none' | 'poll' | 'explicit';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'json' | 'pretty';
export type RequestLogLevel = 'info' | 'debug' | 'off';

export interface ServerConfig {
  modelRepository: string;
  host: string;
  httpPort: number;
  /** Serve the gRPC protocol too (Triton's --allow-grpc). */
  allowGrpc: boolean;
  grpcPort: number;
  /** Serve Prometheus metrics (Triton's --allow-metrics). */
  allowMetrics: boolean;
  metricsPort: number;
  modelControlMode: ModelControlMode;
  /** Explicit mode: models to load at start ("*" = all). */
  loadModels: string[];
  /** Poll mode: seconds between repository scans (Triton's --repository-poll-secs). */
  repositoryPollSecs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Level of the one log line per inference request ("off": none). */
  requestLogLevel: RequestLogLevel;
  /** Payload logging sampling rate per model ("*" = any other model), each in [0, 1]. */
  payloadLog: Record<string, number>;
  /** Folder for rotating JSONL payload logs ("" = none). */
  payloadLogDir: string;
  /** URL that receives payload log batches ("" = none). */
  payloadLogWebhook: string;
  /** Largest accepted HTTP body and gRPC message, bytes (Triton's HTTP default: 64 MiB). */
  httpBodyLimit: number;
  /** max_batch_size given to batchable models that have no configuration. */
  defaultMaxBatchSize: number;
  strictReadiness: boolean;
  /** Cores inference may use; instances × intra-op threads are sized to fit. */
  cpuCount: number;
  /**
   * Registry of versions, aliases, routing and rollouts: "sqlite:<file>", "postgres://…", or
   * "off" (plain Triton behaviour). Default: SQLite in <repository>/.modelport/registry.db.
   */
  registry: string;
  /** How often each server checks the registry for changes other servers made, ms. */
  registrySyncMs: number;
  /** How long a version that stopped serving stays loaded for an instant rollback, seconds. */
  warmWindowSecs: number;
  /** URL that receives rollout and rollback events as JSON ("" = none). */
  rolloutWebhook: string;
  /** Largest model file accepted by an upload, bytes. */
  maxUploadBytes: number;
  /** Drift reference profile file per model (written by `modelport profile`). */
  driftProfile: Record<string, string>;
  /** Build a model's drift reference from its first N live rows instead ("*" = every other model). */
  driftBaseline: Record<string, number>;
  /** Rows per live drift window. */
  driftWindow: number;
  /** Close a window after this many seconds too, once it holds enough rows (0 = by count only). */
  driftWindowSecs: number;
  /** Share of requests whose rows feed the drift windows, in (0, 1]. */
  driftSampleRate: number;
  /** URL that receives drift reports when a window drifts ("" = none). */
  driftAlertWebhook: string;
  /** Command run (sh -c) with the drift report on stdin when a window drifts ("" = none). */
  retrainCommand: string;
  /** URL that receives the drift report to start retraining ("" = none). */
  retrainWebhook: string;
  /** At most one alert and retraining call per model in this many seconds. */
  driftCooldownSecs: number;
  /** Folder batch jobs read and write, and the jobs API (/v1/jobs) on ("" = jobs API off). */
  dataRoot: string;
  /** Serve without credentials: every caller may do everything. Only for a trusted network. */
  insecure: boolean;
  /** Serve the management API (/v1) on this port only, not on httpPort (0 = on httpPort). */
  adminPort: number;
  /** Address of the admin listener ("" = host). */
  adminHost: string;
  /** PEM public key or certificate, JWK or JWKS file that verifies bearer JWTs ("" = no JWTs). */
  jwtKeyFile: string;
  /** Required `iss` of accepted JWTs. */
  jwtIssuer: string;
  /** Required `aud` of accepted JWTs. */
  jwtAudience: string;
  /** Accepted JWT signing algorithms (asymmetric only). */
  jwtAlgorithms: string[];
  /** Inference requests per credential, `RATE/UNIT[,burst=N]` ("" = unlimited). */
  rateLimitPerKey: string;
  /** Inference requests per model, MODEL=RATE/UNIT[,burst=N] ("*" = every other model). */
  rateLimitPerModel: Record<string, string>;
  /** Keep rate-limit counters in the registry's Postgres so that replicas share them. */
  rateLimitShared: boolean;
  /** PEM certificate chain: serve HTTPS, gRPC over TLS and metrics over HTTPS ("" = plain). */
  tlsCert: string;
  /** PEM private key of tlsCert. */
  tlsKey: string;
  /** PEM CA bundle: require client certificates signed by it (mutual TLS; "" = none asked). */
  tlsClientCa: string;
  // Request limits: what one request may cost, refused with an error naming the limit.
  /** Inputs one inference request may carry. */
  maxRequestInputs: number;
  /** Outputs one inference request may name. */
  maxRequestOutputs: number;
  /** Elements of one input tensor (and the longest any one dimension may be). */
  maxTensorElements: number;
  /** Elements of one BYTES input tensor (each costs an object in memory). */
  maxStringTensorElements: number;
  /** Bytes of one BYTES element. */
  maxStringElementBytes: number;
  /** Bytes of all inputs of one request once decoded (default: httpBodyLimit, as Triton bounds JSON expansion). */
  maxRequestTensorBytes: number;
  /** Largest HTTP request header section, bytes; larger is 431. */
  maxHeaderBytes: number;
  /** Time an HTTP request's headers may take to arrive, ms, counted from its first byte; slower is 408. */
  headersTimeoutMs: number;
  /** Time a whole HTTP request (headers and body) may take to arrive, ms; slower is 408. */
  requestTimeoutMs: number;
  /** Open HTTP connections at most; requests on connections beyond are answered 503 and closed (0 = no limit). */
  maxConnections: number;
  /** max_queue_size of every model version whose configuration sets none (0 = unbounded, as Triton). */
  defaultMaxQueueSize: number;
  /** Deadline of inference requests that get none from their `timeout` parameter or their model's policy, ms (0 = none). */
  requestDeadlineMs: number;
  /** HTTP inference requests in flight at once, over all models; more are refused 503 before their body is read (0 = no cap). */
  maxInflightRequests: number;
}

export const DEFAULTS: ServerConfig = {
  modelRepository: 'models',
  host: '0.0.0.0',
  httpPort: 8000,
  allowGrpc: true,
  grpcPort: 8001,
  allowMetrics: true,
  metricsPort: 8002,
  modelControlMode: 'none',
  loadModels: [],
  repositoryPollSecs: 15,
  logLevel: 'info',
  logFormat: process.stdout.isTTY ? 'pretty' : 'json',
  requestLogLevel: 'debug',
  payloadLog: {},
  payloadLogDir: '',
  payloadLogWebhook: '',
  httpBodyLimit: 64 * 1024 * 1024,
  defaultMaxBatchSize: 4,
  strictReadiness: true,
  registry: '',
  registrySyncMs: 1000,
  warmWindowSecs: 300,
  rolloutWebhook: '',
  maxUploadBytes: 2 * 1024 * 1024 * 1024,
  driftProfile: {},
  driftBaseline: {},
  driftWindow: 500,
  driftWindowSecs: 0,
  driftSampleRate: 1,
  driftAlertWebhook: '',
  retrainCommand: '',
  retrainWebhook: '',
  driftCooldownSecs: 3600,
  dataRoot: '',
  insecure: false,
  adminPort: 0,
  adminHost: '',
  jwtKeyFile: '',
  jwtIssuer: '',
  jwtAudience: '',
  jwtAlgorithms: ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'],
  rateLimitPerKey: '',
  rateLimitPerModel: {},
  rateLimitShared: false,
  tlsCert: '',
  tlsKey: '',
  tlsClientCa: '',
  cpuCount: availableParallelism(),
  maxRequestInputs: DEFAULT_REQUEST_LIMITS.maxInputs,
  maxRequestOutputs: DEFAULT_REQUEST_LIMITS.maxOutputs,
  maxTensorElements: DEFAULT_REQUEST_LIMITS.maxTensorElements,
  maxStringTensorElements: DEFAULT_REQUEST_LIMITS.maxStringTensorElements,
  maxStringElementBytes: DEFAULT_REQUEST_LIMITS.maxStringElementBytes,
  maxRequestTensorBytes: DEFAULT_REQUEST_LIMITS.maxTensorBytes,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 300_000,
  maxConnections: 4096,
  defaultMaxQueueSize: 1024,
  requestDeadlineMs: 0,
  maxInflightRequests: 1024,
};

/** Environment variable for each key: httpPort → MODELPORT_HTTP_PORT. */
export function envName(key: keyof ServerConfig): string {
  return `MODELPORT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

type Source = Partial<Record<keyof ServerConfig, unknown>>;

/**
 * Builds the configuration from every source and validates it.
 * `flags` holds only what the user actually passed.
 */
export function loadServerConfig(
  flags: Source,
  env: NodeJS.ProcessEnv = process.env,
  configFile?: string,
): ServerConfig {
  const fromFile: Source = configFile ? readConfigFile(configFile) : {};
  const fromEnv: Source = {};
  for (const key of Object.keys(DEFAULTS) as (keyof ServerConfig)[]) {
    const value = env[envName(key)];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const merged: Source = { ...fromFile, ...fromEnv, ...stripUndefined(flags) };
  for (const key of Object.keys(merged)) {
    if (!(key in DEFAULTS)) {
      throw mpError('MP_ERR_CONFIG_INVALID', `unknown configuration key '${key}'; known keys: ${Object.keys(DEFAULTS).join(', ')}`);
    }
  }
  return validate(merged);
}

function readConfigFile(path: string): Source {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw mpError('MP_ERR_CONFIG_INVALID', `cannot read configuration file '${path}': ${(error as Error).message}`);
  }
  try {
    const value: unknown = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error('expected an object of configuration keys');
    }
    return value as Source;
  } catch (error) {
    throw mpError('MP_ERR_CONFIG_INVALID', `configuration file '${path}' is not valid: ${(error as Error).message}`);
  }
}

function stripUndefined(source: Source): Source {
  return Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined));
}

function validate(source: Source): ServerConfig {
  const config: ServerConfig = { ...DEFAULTS };
  const s = source;
  if (s.modelRepository !== undefined) config.modelRepository = resolve(str(s.modelRepository, 'modelRepository'));
  else config.modelRepository = resolve(config.modelRepository);
  if (s.host !== undefined) config.host = str(s.host, 'host');
  if (s.httpPort !== undefined) config.httpPort = int(s.httpPort, 'httpPort', 0, 65535);
  if (s.allowGrpc !== undefined) config.allowGrpc = bool(s.allowGrpc, 'allowGrpc');
  if (s.grpcPort !== undefined) config.grpcPort = int(s.grpcPort, 'grpcPort', 0, 65535);
  if (s.allowMetrics !== undefined) config.allowMetrics = bool(s.allowMetrics, 'allowMetrics');
  if (s.metricsPort !== undefined) config.metricsPort = int(s.metricsPort, 'metricsPort', 0, 65535);
  if (s.requestLogLevel !== undefined) config.requestLogLevel = oneOf(s.requestLogLevel, 'requestLogLevel', ['info', 'debug', 'off']);
  if (s.payloadLog !== undefined) config.payloadLog = rates(s.payloadLog, 'payloadLog');
  if (s.payloadLogDir !== undefined) config.payloadLogDir = resolve(str(s.payloadLogDir, 'payloadLogDir'));
  if (s.payloadLogWebhook !== undefined) config.payloadLogWebhook = url(s.payloadLogWebhook, 'payloadLogWebhook');
  if (Object.keys(config.payloadLog).length > 0 && !config.payloadLogDir && !config.payloadLogWebhook) {
    throw invalid('payloadLog', s.payloadLog, 'a sink as well: payloadLogDir (--payload-log-dir) or payloadLogWebhook (--payload-log-webhook)');
  }
  if (s.modelControlMode !== undefined) config.modelControlMode = oneOf(s.modelControlMode, 'modelControlMode', ['none', 'poll', 'explicit']);
  if (s.loadModels !== undefined) config.loadModels = list(s.loadModels, 'loadModels');
  if (s.repositoryPollSecs !== undefined) config.repositoryPollSecs = num(s.repositoryPollSecs, 'repositoryPollSecs', 0.01);
  if (s.logLevel !== undefined) config.logLevel = oneOf(s.logLevel, 'logLevel', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  if (s.logFormat !== undefined) config.logFormat = oneOf(s.logFormat, 'logFormat', ['json', 'pretty']);
  if (s.httpBodyLimit !== undefined) config.httpBodyLimit = int(s.httpBodyLimit, 'httpBodyLimit', 1024, 2 ** 31 - 1);
  if (s.defaultMaxBatchSize !== undefined) config.defaultMaxBatchSize = int(s.defaultMaxBatchSize, 'defaultMaxBatchSize', 0, 1 << 20);
  if (s.strictReadiness !== undefined) config.strictReadiness = bool(s.strictReadiness, 'strictReadiness');
  if (s.cpuCount !== undefined) config.cpuCount = int(s.cpuCount, 'cpuCount', 1, 4096);
  if (s.registry !== undefined) config.registry = registryUrl(s.registry);
  if (s.registrySyncMs !== undefined) config.registrySyncMs = int(s.registrySyncMs, 'registrySyncMs', 0, 3_600_000);
  if (s.warmWindowSecs !== undefined) config.warmWindowSecs = num(s.warmWindowSecs, 'warmWindowSecs', 0);
  if (s.rolloutWebhook !== undefined) config.rolloutWebhook = url(s.rolloutWebhook, 'rolloutWebhook');
  if (s.maxUploadBytes !== undefined) config.maxUploadBytes = int(s.maxUploadBytes, 'maxUploadBytes', 1024, Number.MAX_SAFE_INTEGER);
  if (s.driftProfile !== undefined) config.driftProfile = pairs(s.driftProfile, 'driftProfile', 'MODEL=FILE', (file) => (file ? resolve(file) : undefined));
  if (s.driftBaseline !== undefined) {
    config.driftBaseline = pairs(s.driftBaseline, 'driftBaseline', 'MODEL=ROWS with ROWS ≥ 100', (rows) => {
      const n = Number(rows);
      return Number.isInteger(n) && n >= 100 ? n : undefined;
    });
  }
  if (s.driftWindow !== undefined) config.driftWindow = int(s.driftWindow, 'driftWindow', 50, 1_000_000);
  if (s.driftWindowSecs !== undefined) config.driftWindowSecs = num(s.driftWindowSecs, 'driftWindowSecs', 0);
  if (s.driftSampleRate !== undefined) {
    config.driftSampleRate = num(s.driftSampleRate, 'driftSampleRate', 0);
    if (config.driftSampleRate === 0 || config.driftSampleRate > 1) throw invalid('driftSampleRate', s.driftSampleRate, 'a share above 0 and at most 1');
  }
  if (s.driftAlertWebhook !== undefined) config.driftAlertWebhook = url(s.driftAlertWebhook, 'driftAlertWebhook');
  if (s.retrainCommand !== undefined) config.retrainCommand = str(s.retrainCommand, 'retrainCommand');
  if (s.retrainWebhook !== undefined) config.retrainWebhook = url(s.retrainWebhook, 'retrainWebhook');
  if (s.driftCooldownSecs !== undefined) config.driftCooldownSecs = num(s.driftCooldownSecs, 'driftCooldownSecs', 0);
  if (s.dataRoot !== undefined) config.dataRoot = resolve(str(s.dataRoot, 'dataRoot'));
  if (s.defaultMaxQueueSize !== undefined) config.defaultMaxQueueSize = int(s.defaultMaxQueueSize, 'defaultMaxQueueSize', 0, 1 << 24);
  if (s.requestDeadlineMs !== undefined) config.requestDeadlineMs = int(s.requestDeadlineMs, 'requestDeadlineMs', 0, 86_400_000);
  if (s.maxInflightRequests !== undefined) config.maxInflightRequests = int(s.maxInflightRequests, 'maxInflightRequests', 0, 1 << 24);
  for (const model of Object.keys(config.driftProfile)) {
    if (model in config.driftBaseline) throw invalid('driftBaseline', s.driftBaseline, `no model that also has a driftProfile ('${model}' has both)`);
  }
  const watchesDrift = Object.keys(config.driftProfile).length + Object.keys(config.driftBaseline).length > 0;
  if (!watchesDrift && (config.driftAlertWebhook || config.retrainCommand || config.retrainWebhook)) {
    throw invalid('driftAlertWebhook', config.driftAlertWebhook || config.retrainCommand || config.retrainWebhook, 'a model to watch as well: driftProfile (--drift-profile MODEL=FILE) or driftBaseline (--drift-baseline MODEL=ROWS)');
  }
  if (s.insecure !== undefined) config.insecure = bool(s.insecure, 'insecure');
  if (s.adminPort !== undefined) config.adminPort = int(s.adminPort, 'adminPort', 0, 65535);
  if (s.adminHost !== undefined) config.adminHost = str(s.adminHost, 'adminHost');
  if (s.jwtKeyFile !== undefined) config.jwtKeyFile = resolve(str(s.jwtKeyFile, 'jwtKeyFile'));
  if (s.jwtIssuer !== undefined) config.jwtIssuer = str(s.jwtIssuer, 'jwtIssuer');
  if (s.jwtAudience !== undefined) config.jwtAudience = str(s.jwtAudience, 'jwtAudience');
  if (s.jwtAlgorithms !== undefined) config.jwtAlgorithms = stringList(s.jwtAlgorithms, 'jwtAlgorithms');
  if (config.jwtKeyFile && (!config.jwtIssuer || !config.jwtAudience)) {
    throw invalid('jwtKeyFile', config.jwtKeyFile, 'jwtIssuer (--jwt-issuer) and jwtAudience (--jwt-audience) as well: tokens are only accepted for a known issuer and audience');
  }
  if (s.rateLimitPerKey !== undefined) config.rateLimitPerKey = rateLimit(s.rateLimitPerKey, 'rateLimitPerKey');
  if (s.rateLimitPerModel !== undefined) {
    config.rateLimitPerModel = pairs(s.rateLimitPerModel, 'rateLimitPerModel', 'MODEL=RATE/UNIT[,burst=N] (e.g. mlp=100/s)', (text) => (RATE_LIMIT.test(text) ? text : undefined));
  }
  if (s.rateLimitShared !== undefined) config.rateLimitShared = bool(s.rateLimitShared, 'rateLimitShared');
  if (s.tlsCert !== undefined) config.tlsCert = resolve(str(s.tlsCert, 'tlsCert'));
  if (s.tlsKey !== undefined) config.tlsKey = resolve(str(s.tlsKey, 'tlsKey'));
  if (s.tlsClientCa !== undefined) config.tlsClientCa = resolve(str(s.tlsClientCa, 'tlsClientCa'));
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) throw invalid(config.tlsCert ? 'tlsKey' : 'tlsCert', '', 'both tlsCert (--tls-cert) and tlsKey (--tls-key), or neither');
  if (config.tlsClientCa && !config.tlsCert) throw invalid('tlsClientCa', config.tlsClientCa, 'tlsCert and tlsKey as well: client certificates are checked over TLS only');
  if (config.registry === '') config.registry = `sqlite:${resolve(config.modelRepository, '.modelport', 'registry.db')}`;
  if (!config.insecure && config.registry === 'off' && !config.jwtKeyFile) {
    throw invalid('insecure', false, 'a way to authenticate callers: API keys need a registry (leave --registry on), or give --jwt-key-file; --insecure serves without credentials');
  }
  if (config.rateLimitShared && !config.registry.startsWith('postgres')) {
    throw invalid('rateLimitShared', true, 'a Postgres registry (--registry postgres://…), where replicas share the counters');
  }
  if (config.adminPort !== 0 && config.adminPort === config.httpPort) throw invalid('adminPort', config.adminPort, 'a port other than httpPort');
  if (config.loadModels.length > 0 && config.modelControlMode !== 'explicit') {
    throw invalid('loadModels', config.loadModels.join(','), "only with modelControlMode 'explicit' (--model-control-mode explicit)");
  }
  validateLimits(s, config);
  return config;
}

/** The request limits, at the end of validate() so that other settings they default to are known. */
function validateLimits(s: Source, config: ServerConfig): void {
  const MAX = 2 ** 31 - 1;
  if (s.maxRequestInputs !== undefined) config.maxRequestInputs = int(s.maxRequestInputs, 'maxRequestInputs', 1, 1 << 20);
  if (s.maxRequestOutputs !== undefined) config.maxRequestOutputs = int(s.maxRequestOutputs, 'maxRequestOutputs', 1, 1 << 20);
  if (s.maxTensorElements !== undefined) config.maxTensorElements = int(s.maxTensorElements, 'maxTensorElements', 1, MAX);
  if (s.maxStringTensorElements !== undefined) config.maxStringTensorElements = int(s.maxStringTensorElements, 'maxStringTensorElements', 1, MAX);
  if (s.maxStringElementBytes !== undefined) config.maxStringElementBytes = int(s.maxStringElementBytes, 'maxStringElementBytes', 1, MAX);
  // Unset, decoded inputs may take as many bytes as the body limit allows in, as in Triton.
  config.maxRequestTensorBytes = s.maxRequestTensorBytes !== undefined ? int(s.maxRequestTensorBytes, 'maxRequestTensorBytes', 1, Number.MAX_SAFE_INTEGER) : config.httpBodyLimit;
  // Node's default and llhttp's ceiling bound the header section.
  if (s.maxHeaderBytes !== undefined) config.maxHeaderBytes = int(s.maxHeaderBytes, 'maxHeaderBytes', 1024, 1024 * 1024);
  if (s.headersTimeoutMs !== undefined) config.headersTimeoutMs = int(s.headersTimeoutMs, 'headersTimeoutMs', 1, 3_600_000);
  if (s.requestTimeoutMs !== undefined) config.requestTimeoutMs = int(s.requestTimeoutMs, 'requestTimeoutMs', 1, 86_400_000);
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw invalid('headersTimeoutMs', config.headersTimeoutMs, `at most requestTimeoutMs (${config.requestTimeoutMs}): the whole request includes its headers`);
  }
  if (s.maxConnections !== undefined) config.maxConnections = int(s.maxConnections, 'maxConnections', 0, 1_000_000);
}

function registryUrl(value: unknown): string {
  const text = str(value, 'registry');
  if (text === 'off') return text;
  if (/^postgres(ql)?:\/\//.test(text)) return text;
  if (text.startsWith('sqlite:')) return `sqlite:${resolve(text.slice('sqlite:'.length))}`;
  throw invalid('registry', value, '"off", "sqlite:<file>" or a postgres:// URL');
}

function invalid(key: string, value: unknown, expected: string) {
  return mpError('MP_ERR_CONFIG_INVALID', `invalid configuration '${key}' (${envName(key as keyof ServerConfig)}): got ${JSON.stringify(value)}, expected ${expected}`);
}

function str(value: unknown, key: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(key, value, 'a non-empty string');
  return value;
}

function num(value: unknown, key: string, min: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min) throw invalid(key, value, `a number ≥ ${min}`);
  return n;
}

function int(value: unknown, key: string, min: number, max: number): number {
  const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw invalid(key, value, `an integer from ${min} to ${max}`);
  return n;
}

function bool(value: unknown, key: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw invalid(key, value, 'true or false');
}

function oneOf<T extends string>(value: unknown, key: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw invalid(key, value, `one of ${allowed.join(', ')}`);
  return value as T;
}

/** "mlp=0.1,*=1" (or a list of such entries, or an object) → { mlp: 0.1, '*': 1 }. */
function rates(value: unknown, key: string): Record<string, number> {
  const entries: Array<[string, unknown]> =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value)
      : list(value, key).map((entry) => {
          const eq = entry.lastIndexOf('=');
          return eq > 0 ? [entry.slice(0, eq), entry.slice(eq + 1)] : [entry, '1'];
        });
  const result: Record<string, number> = {};
  for (const [model, rate] of entries) {
    const n = typeof rate === 'string' ? Number(rate) : rate;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1) throw invalid(key, value, `MODEL=RATE entries with RATE from 0 to 1 (got ${JSON.stringify(rate)} for '${model}')`);
    result[model] = n;
  }
  return result;
}

/** MODEL=VALUE entries (flags, comma lists or an object), each value checked by `parse`. */
function pairs<T>(value: unknown, key: string, expected: string, parse: (text: string) => T | undefined): Record<string, T> {
  const entries: Array<[string, unknown]> =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value)
      : list(value, key).map((entry) => {
          const eq = entry.indexOf('=');
          return eq > 0 ? [entry.slice(0, eq), entry.slice(eq + 1)] : [entry, ''];
        });
  const result: Record<string, T> = {};
  for (const [model, raw] of entries) {
    const parsed = parse(String(raw));
    if (parsed === undefined) throw invalid(key, value, `${expected} entries (got ${JSON.stringify(raw)} for '${model}')`);
    result[model] = parsed;
  }
  return result;
}

const RATE_LIMIT = /^\s*\d+\s*\/\s*[smh]\s*(,\s*burst\s*=\s*\d+\s*)?$/;

function rateLimit(value: unknown, key: string): string {
  if (value === '') return '';
  const text = str(value, key);
  if (!RATE_LIMIT.test(text) || /^\s*0+\s*\//.test(text)) throw invalid(key, value, 'RATE/UNIT[,burst=N] with UNIT s, m or h (e.g. 100/s or 3000/m,burst=200)');
  return text;
}

function stringList(value: unknown, key: string): string[] {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
  if (items === undefined || !items.every((v) => typeof v === 'string')) throw invalid(key, value, 'a comma-separated list');
  const list = items.map((v: string) => v.trim()).filter(Boolean);
  if (list.length === 0) throw invalid(key, value, 'at least one entry');
  return list;
}

function url(value: unknown, key: string): string {
  const text = str(value, key);
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw invalid(key, value, 'an http:// or https:// URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalid(key, value, 'an http:// or https:// URL');
  return text;
}

function list(value: unknown, key: string): string[] {
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  if (typeof value === 'string') return value.split(',').map((v) => v.trim()).filter(Boolean);
  throw invalid(key, value, 'a list of model names');
}
