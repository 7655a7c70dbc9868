/**
 * The composition root: turns a validated ServerConfig into running objects (runtime, repository,
 * statistics, data plane, HTTP and gRPC adapters), starts them in order and stops them in reverse. Stopping
 * is graceful: no new connections or requests are accepted, every request already in flight is
 * answered, then models are unloaded.
 */
import { join } from 'node:path';
import type { ServerConfig } from '../config/index.js';
import { packageVersion, type Logger } from '../core/index.js';
import { DataPlane, StatisticsRecorder } from '../dataplane/index.js';
import {
  createLogger,
  DriftAlerts,
  LiveDriftMonitor,
  Metrics,
  PayloadLogger,
  readReferenceProfileSync,
  RotatingFileSink,
  WebhookSink,
  type DriftReference,
  type PayloadSink,
} from '../monitoring/index.js';
import { mpError } from '../core/index.js';
import { ArtifactPublisher, fileDigest, FolderRepository, openRegistryStore } from '../repository/index.js';
import { JobManager } from '../jobs/index.js';
import { ReleaseManager, type ReleaseEvent } from '../rollout/index.js';
import { OnnxRuntime } from '../runtime/index.js';
import { createGrpcServer, type GrpcServer } from '../adapters/grpc/index.js';
import { createMetricsServer, registerTritonMetrics, type MetricsServer } from '../adapters/metrics/index.js';
import { createRestServer, InflightLimit, type RestServer } from '../adapters/rest/index.js';
import type { RegistryStore } from '../repository/index.js';
import { serverSecurity, warnIfInsecure, type ServerSecurity } from './server-security.js';

export interface RunningAddresses {
  http: { host: string; port: number };
  /** The management API's own listener, with --admin-port. */
  admin?: { host: string; port: number };
  grpc?: { host: string; port: number };
  metrics?: { host: string; port: number };
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Whether a line at `level` gets through a logger set to `configured`. */
function logs(configured: string, level: string): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(configured);
}

export class ModelportServer {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly dataPlane: DataPlane;
  readonly #repository: FolderRepository;
  readonly #rest: RestServer;
  readonly #admin: RestServer | undefined;
  readonly #security: ServerSecurity;
  readonly #registry: (() => Promise<RegistryStore>) | undefined;
  readonly #grpc: GrpcServer | undefined;
  readonly #metricsServer: MetricsServer | undefined;
  readonly #payloadLogger: PayloadLogger | undefined;
  readonly #releases: ReleaseManager | undefined;
  readonly #drift: { monitor: LiveDriftMonitor; alerts: DriftAlerts } | undefined;
  readonly #jobs: JobManager | undefined;
  #addresses: RunningAddresses | undefined;
  #stopping: Promise<void> | undefined;

  constructor(config: ServerConfig, logger?: Logger) {
    this.config = config;
    this.logger = logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
    const statistics = new StatisticsRecorder();
    const metrics = config.allowMetrics ? new Metrics() : undefined;
    const runtime = new OnnxRuntime({ logger: this.logger.child({ component: 'runtime' }) });
    let releases: ReleaseManager | undefined;
    this.#repository = new FolderRepository({
      root: config.modelRepository,
      runtime,
      controlMode: config.modelControlMode,
      pollIntervalMs: config.repositoryPollSecs * 1000,
      startupModels: config.loadModels,
      cpuCount: config.cpuCount,
      defaultMaxBatchSize: config.defaultMaxBatchSize,
      logger: this.logger.child({ component: 'repository' }),
      onExecution: (model, version, record) => {
        statistics.recordExecution(model, version, record);
        if (record.ok) metrics?.observeBatch(model, String(version), record.batchSize, record.computeInferNs / 1e9);
      },
      pinnedVersions: (model) => releases?.pinnedVersions(model) ?? { versions: [], replacePolicy: false },
      defaultMaxQueueSize: config.defaultMaxQueueSize,
      fallbackTimeoutUs: config.requestDeadlineMs * 1000,
    });
    if (config.registry !== 'off') {
      const releaseLogger = this.logger.child({ component: 'releases' });
      const registry = config.registry;
      // One store per process (SQLite wants one connection): releases and API keys share it.
      let opening: Promise<RegistryStore> | undefined;
      this.#registry = () => (opening ??= openRegistryStore(registry, { logger: releaseLogger }));
      releases = new ReleaseManager({
        store: this.#registry,
        repository: this.#repository,
        publisher: new ArtifactPublisher({ root: config.modelRepository, runtime, maxBytes: config.maxUploadBytes }),
        logger: releaseLogger,
        syncIntervalMs: config.registrySyncMs,
        warmWindowMs: config.warmWindowSecs * 1000,
        ...(config.rolloutWebhook ? { onEvent: eventPoster(config.rolloutWebhook, releaseLogger) } : {}),
      });
      this.#releases = releases;
    }
    this.#security = serverSecurity(config, this.#registry);
    this.#payloadLogger = createPayloadLogger(config, this.logger.child({ component: 'payload-log' }));
    this.#drift = createDriftMonitor(config, this.logger.child({ component: 'drift' }));
    const requestLogger = this.logger.child({ component: 'request' });
    const requestLevel = config.requestLogLevel;
    this.dataPlane = new DataPlane({
      repository: this.#repository,
      statistics,
      serverVersion: packageVersion(),
      strictReadiness: config.strictReadiness,
      ...(metrics ? { metrics } : {}),
      // Building a log line per request costs on the hot path: only when it would be written.
      ...(requestLevel !== 'off' && logs(config.logLevel, requestLevel)
        ? { requestLog: (entry: object) => requestLogger[requestLevel](entry, 'infer') }
        : {}),
      ...(this.#payloadLogger ? { payloadLog: this.#payloadLogger } : {}),
      ...(releases ? { releases } : {}),
      ...(this.#drift ? { drift: this.#drift.monitor } : {}),
      limits: {
        maxInputs: config.maxRequestInputs,
        maxOutputs: config.maxRequestOutputs,
        maxTensorElements: config.maxTensorElements,
        maxStringTensorElements: config.maxStringTensorElements,
        maxStringElementBytes: config.maxStringElementBytes,
        maxTensorBytes: config.maxRequestTensorBytes,
      },
    });
    if (metrics) {
      registerTritonMetrics(metrics, this.dataPlane);
      const payloadLogger = this.#payloadLogger;
      if (payloadLogger) {
        metrics.addCollected('modelport_payload_log_events_total', 'Payload log events by sink and outcome (written, dropped when a queue was full, failed when a sink gave up)', 'counter', () =>
          payloadLogger.counts().flatMap((c) => (['written', 'dropped', 'failed'] as const).map((outcome) => ({ labels: { sink: c.sink, outcome }, value: c[outcome] }))),
        );
      }
      if (releases) registerReleaseMetrics(metrics, releases);
      const drift = this.#drift;
      if (drift) {
        drift.monitor.registerMetrics(metrics);
        metrics.addCollected('modelport_drift_alerts_total', 'Drift alerts and retraining calls by model, action and outcome (suppressed inside the cool-down)', 'counter', () => drift.alerts.samples());
      }
      this.#metricsServer = createMetricsServer(metrics, { gatekeeper: this.#security.gatekeeper, ...(this.#security.tls ? { tls: this.#security.tls } : {}) });
    }
    if (config.dataRoot) {
      const dataPlane = this.dataPlane;
      this.#jobs = new JobManager({
        dataRoot: config.dataRoot,
        dataPlane,
        logger: this.logger.child({ component: 'jobs' }),
        maxUploadBytes: config.maxUploadBytes,
        // The model file's digest goes into each job's manifest, so a job resumed after a restart
        // refuses to continue on a model file that changed meanwhile.
        digest: (model, version) => {
          const file = join(config.modelRepository, model, version, dataPlane.modelConfig(model, version).default_model_filename || runtime.defaultModelFilename);
          return fileDigest(file).then((d) => d.digest, () => undefined);
        },
      });
    }
    const { gatekeeper, tls } = this.#security;
    const httpLogger = this.logger.child({ component: 'http' });
    const inflight = new InflightLimit(config.maxInflightRequests);
    metrics?.addCollected('modelport_http_inflight_refused_total', 'HTTP inference requests refused unread because --max-inflight-requests were already in flight', 'counter', () => [
      { labels: {}, value: inflight.refused },
    ]);
    const management = {
      ...(releases ? { management: releases } : {}),
      ...(this.#drift ? { drift: this.#drift.monitor } : {}),
      ...(this.#jobs ? { jobs: this.#jobs } : {}),
    };
    const restOptions = {
      inflight,
      dataPlane: this.dataPlane,
      logger: httpLogger,
      bodyLimit: config.httpBodyLimit,
      gatekeeper,
      ...(tls ? { tls } : {}),
      // An access line for every HTTP request (metadata, health, 404s too) at trace level only;
      // inference requests have their own line, at --request-log-level.
      ...(config.logLevel === 'trace' ? { onResponse: (info: object) => httpLogger.trace(info, 'http') } : {}),
      maxHeaderBytes: config.maxHeaderBytes,
      headersTimeoutMs: config.headersTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      maxConnections: config.maxConnections,
    };
    // With --admin-port the management API lives on its own listener only, which can be bound
    // to an interface that the inference traffic's network cannot reach.
    this.#rest = createRestServer({ ...restOptions, ...(config.adminPort === 0 ? management : {}) });
    if (config.adminPort !== 0) this.#admin = createRestServer({ ...restOptions, ...management });
    if (config.allowGrpc) {
      this.#grpc = createGrpcServer({
        dataPlane: this.dataPlane,
        logger: this.logger.child({ component: 'grpc' }),
        maxMessageBytes: config.httpBodyLimit,
        gatekeeper,
        ...(tls ? { tls } : {}),
      });
    }
  }

  get addresses(): RunningAddresses | undefined {
    return this.#addresses;
  }

  async start(): Promise<RunningAddresses> {
    const { config, logger } = this;
    warnIfInsecure(config, logger);
    if (this.#releases) {
      logger.info({ registry: redactUrl(config.registry) }, 'opening the registry');
      await this.#releases.open();
    }
    if (config.rateLimitShared && this.#registry) await this.#security.limits.share((await this.#registry()).postgresPool());
    logger.info({ repository: config.modelRepository, mode: config.modelControlMode }, 'loading models');
    await this.#repository.start();
    await this.#releases?.start();
    // After the models: jobs left unfinished by the last run resume on them.
    await this.#jobs?.start();
    for (const model of this.#repository.models()) {
      if (model.versions.length === 0) {
        logger.warn({ model: model.name, state: model.state, reason: model.reason }, 'model not served');
      }
      for (const v of model.versions) {
        const level = v.state === 'READY' ? 'info' : 'warn';
        logger[level]({ model: model.name, version: v.version, state: v.state, ...(v.reason ? { reason: v.reason } : {}) }, 'model version');
      }
    }
    const http = await this.#rest.listen({ host: config.host, port: config.httpPort });
    const admin = this.#admin ? await this.#admin.listen({ host: config.adminHost || config.host, port: config.adminPort }) : undefined;
    const grpc = this.#grpc ? await this.#grpc.listen({ host: config.host, port: config.grpcPort }) : undefined;
    const metrics = this.#metricsServer ? await this.#metricsServer.listen({ host: config.host, port: config.metricsPort }) : undefined;
    this.dataPlane.setAccepting(true);
    this.#addresses = { http, ...(admin ? { admin } : {}), ...(grpc ? { grpc } : {}), ...(metrics ? { metrics } : {}) };
    const scheme = this.#security.tls ? 'https' : 'http';
    logger.info(
      {
        http: `${scheme}://${formatHost(http.host)}:${http.port}`,
        ...(admin ? { admin: `${scheme}://${formatHost(admin.host)}:${admin.port}` } : {}),
        auth: config.insecure ? 'none (--insecure)' : [this.#registry ? 'api-keys' : '', config.jwtKeyFile ? 'jwt' : ''].filter(Boolean).join('+'),
        ...(grpc ? { grpc: `${formatHost(grpc.host)}:${grpc.port}` } : {}),
        ...(metrics ? { metrics: `${scheme}://${formatHost(metrics.host)}:${metrics.port}/metrics` } : {}),
      },
      'modelport serving',
    );
    return this.#addresses;
  }

  /** Idempotent graceful stop. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.logger.info('stopping: finishing requests in flight');
    this.dataPlane.setAccepting(false);
    await Promise.all([this.#rest.close(), this.#admin?.close(), this.#grpc?.close()]);
    // Running jobs stop between batches and stay recorded as running, to resume at the next start.
    await this.#jobs?.close();
    await this.#releases?.close();
    await this.#repository.stop();
    await this.#drift?.monitor.close();
    await this.#drift?.alerts.idle();
    await this.#payloadLogger?.close();
    await this.#metricsServer?.close();
    this.logger.info('stopped');
  }
}

function createPayloadLogger(config: ServerConfig, logger: Logger): PayloadLogger | undefined {
  if (Object.keys(config.payloadLog).length === 0) return undefined;
  const sinks: PayloadSink[] = [];
  if (config.payloadLogDir) sinks.push(new RotatingFileSink(config.payloadLogDir));
  if (config.payloadLogWebhook) sinks.push(new WebhookSink({ url: config.payloadLogWebhook }));
  let lastWarning = 0;
  return new PayloadLogger({
    rates: new Map(Object.entries(config.payloadLog)),
    sinks,
    onSinkError: (sink, error) => {
      // A dead sink fails every batch; say so at most every 10 s.
      if (Date.now() - lastWarning < 10_000) return;
      lastWarning = Date.now();
      logger.warn({ sink, error: error.message }, 'payload log sink failed; events counted as failed');
    },
  });
}

/** Live drift windows for the models the configuration names, with alerts and the retraining hook. */
function createDriftMonitor(config: ServerConfig, logger: Logger): { monitor: LiveDriftMonitor; alerts: DriftAlerts } | undefined {
  const models = new Map<string, DriftReference>();
  for (const [model, file] of Object.entries(config.driftProfile)) {
    try {
      models.set(model, { profile: readReferenceProfileSync(file) });
    } catch (error) {
      throw mpError('MP_ERR_CONFIG_INVALID', `invalid configuration 'driftProfile' for model '${model}': ${(error as Error).message}`);
    }
  }
  for (const [model, rows] of Object.entries(config.driftBaseline)) models.set(model, { baselineRequests: rows });
  if (models.size === 0) return undefined;
  const alerts = new DriftAlerts({
    ...(config.driftAlertWebhook ? { alertWebhook: config.driftAlertWebhook } : {}),
    ...(config.retrainWebhook ? { retrainWebhook: config.retrainWebhook } : {}),
    ...(config.retrainCommand ? { retrainCommand: config.retrainCommand } : {}),
    cooldownMs: config.driftCooldownSecs * 1000,
    logger,
  });
  const monitor = new LiveDriftMonitor({
    models,
    windowRows: config.driftWindow,
    ...(config.driftWindowSecs > 0 ? { windowMs: config.driftWindowSecs * 1000 } : {}),
    sampleRate: config.driftSampleRate,
    logger,
    onReport: (report) => void alerts.handle(report),
  });
  return { monitor, alerts };
}

/** Routing weights, shadow comparisons and rollout progress, read from the release manager at scrape time. */
function registerReleaseMetrics(metrics: Metrics, releases: ReleaseManager): void {
  metrics.addCollected('modelport_route_weight_percent', 'Share of the traffic that names no version each routing arm receives, percent', 'gauge', () =>
    releases.releaseMetrics().flatMap((m) => m.arms.map((a) => ({ labels: { model: m.model, arm: a.arm, version: String(a.version) }, value: a.weight }))),
  );
  metrics.addCollected('modelport_shadow_requests_total', 'Requests mirrored to a shadow version, by how its answer compared with the live one (since the routing was applied)', 'counter', () =>
    releases.releaseMetrics().flatMap((m) =>
      m.shadow ? (['agreed', 'disagreed', 'failed'] as const).map((outcome) => ({ labels: { model: m.model, version: String(m.shadow!.version), outcome }, value: m.shadow![outcome] })) : [],
    ),
  );
  metrics.addCollected('modelport_rollout_canary_weight_percent', 'Canary weight of the running rollout of each model, percent', 'gauge', () =>
    releases.releaseMetrics().flatMap((m) => (m.rollout ? [{ labels: { model: m.model, version: String(m.rollout.to) }, value: m.rollout.weight }] : [])),
  );
}

/** Posts release events as JSON; a receiver that is down gets two more tries, then a warning. */
function eventPoster(url: string, logger: Logger): (event: ReleaseEvent) => void {
  return (event) => {
    const body = JSON.stringify(event);
    void (async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5000) });
          if (response.ok) return;
        } catch {
          // retried below
        }
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
      logger.warn({ url, event: event.type }, 'rollout webhook did not accept the event');
    })();
  };
}

/** A registry URL without its password, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
