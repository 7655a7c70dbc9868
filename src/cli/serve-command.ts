/**
 * `modelport serve`: loads a model repository and serves it over HTTP until SIGINT/SIGTERM, then
 * stops gracefully (every request in flight is answered, models are unloaded) and exits 0.
 */
import { Command, Option } from 'commander';
import { EXIT_USAGE, reportFailure } from './exit.js';

interface ServeFlags {
  modelRepository?: string;
  host?: string;
  httpPort?: string;
  allowGrpc?: string;
  grpcPort?: string;
  allowMetrics?: string;
  metricsPort?: string;
  requestLogLevel?: string;
  payloadLog?: string[];
  payloadLogDir?: string;
  payloadLogWebhook?: string;
  modelControlMode?: string;
  loadModel?: string[];
  repositoryPollSecs?: string;
  logLevel?: string;
  logFormat?: string;
  httpBodyLimit?: string;
  defaultMaxBatchSize?: string;
  strictReadiness?: string;
  cpuCount?: string;
  registry?: string;
  registrySyncMs?: string;
  warmWindowSecs?: string;
  rolloutWebhook?: string;
  maxUploadBytes?: string;
  driftProfile?: string[];
  driftBaseline?: string[];
  driftWindow?: string;
  driftWindowSecs?: string;
  driftSampleRate?: string;
  driftAlertWebhook?: string;
  retrainCommand?: string;
  retrainWebhook?: string;
  driftCooldownSecs?: string;
  dataRoot?: string;
  insecure?: boolean;
  adminPort?: string;
  adminHost?: string;
  jwtKeyFile?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwtAlgorithms?: string;
  rateLimitPerKey?: string;
  rateLimitPerModel?: string[];
  rateLimitShared?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  defaultMaxQueueSize?: string;
  requestDeadlineMs?: string;
  maxInflightRequests?: string;
  config?: string;
  maxRequestInputs?: string;
  maxRequestOutputs?: string;
  maxTensorElements?: string;
  maxStringTensorElements?: string;
  maxStringElementBytes?: string;
  maxRequestTensorBytes?: string;
  maxHeaderBytes?: string;
  headersTimeoutMs?: string;
  requestTimeoutMs?: string;
  maxConnections?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the models of a repository folder over the V2 inference protocol')
    .option('--model-repository <dir>', 'folder of <model>/<version>/model.onnx (+ config.json|yaml)')
    .option('--host <host>', 'address to listen on (default 0.0.0.0)')
    .option('--http-port <port>', 'HTTP port (default 8000; 0 picks a free one)')
    .option('--grpc-port <port>', 'gRPC port (default 8001; 0 picks a free one)')
    .option('--allow-grpc <bool>', 'serve gRPC as well as HTTP (default true)')
    .option('--metrics-port <port>', 'Prometheus metrics port, GET /metrics (default 8002; 0 picks a free one)')
    .option('--allow-metrics <bool>', 'serve Prometheus metrics (default true)')
    .addOption(new Option('--model-control-mode <mode>', 'none: load all at start; poll: also rescan; explicit: load on request').choices(['none', 'poll', 'explicit']))
    .option('--load-model <name>', 'explicit mode: model to load at start, repeatable ("*" = all)', collect)
    .option('--repository-poll-secs <secs>', 'poll mode: seconds between rescans (default 15)')
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .addOption(new Option('--request-log-level <level>', 'level of the one log line per inference request (default debug)').choices(['info', 'debug', 'off']))
    .option('--payload-log <model=rate>', 'log inference payloads of MODEL ("*" = all) at this sampling rate, repeatable', collect)
    .option('--payload-log-dir <dir>', 'write payload logs as rotating JSONL files here')
    .option('--payload-log-webhook <url>', 'POST payload log batches (CloudEvents) here')
    .addOption(new Option('--log-format <format>', 'json lines or pretty (default: pretty on a terminal)').choices(['json', 'pretty']))
    .option('--http-body-limit <bytes>', 'largest HTTP body or gRPC message accepted (default 67108864)')
    .option('--default-max-batch-size <n>', 'max_batch_size for batchable models without a config (default 4)')
    .option('--strict-readiness <bool>', 'ready only while every model is READY (default true)')
    .option('--cpu-count <n>', 'cores inference may use (default: all)')
    .option('--registry <url>', 'versions, aliases, routing and rollouts: sqlite:<file>, postgres://… (shared by replicas) or off (default sqlite in <repository>/.modelport)')
    .option('--registry-sync-ms <ms>', 'how often to pick up registry changes made by other servers (default 1000)')
    .option('--warm-window-secs <secs>', 'keep a version that stopped serving loaded this long, for instant rollback (default 300)')
    .option('--rollout-webhook <url>', 'POST rollout and rollback events here as JSON')
    .option('--max-upload-bytes <bytes>', 'largest model file an upload may carry (default 2 GiB)')
    .option('--drift-profile <model=file>', 'watch MODEL for data drift against this reference profile (modelport profile), repeatable', collect)
    .option('--drift-baseline <model=rows>', 'watch MODEL for drift against its first ROWS live rows ("*" = every other model), repeatable', collect)
    .option('--drift-window <rows>', 'rows per live drift window (default 500)')
    .option('--drift-window-secs <secs>', 'also close a drift window after this many seconds (default 0: by count only)')
    .option('--drift-sample-rate <share>', 'share of requests that feed the drift windows (default 1)')
    .option('--drift-alert-webhook <url>', 'POST the drift report here when a window drifts')
    .option('--retrain-command <cmd>', 'run this (sh -c) with the drift report on stdin when a window drifts')
    .option('--retrain-webhook <url>', 'POST the drift report here to start retraining when a window drifts')
    .option('--drift-cooldown-secs <secs>', 'at most one alert and retraining call per model in this time (default 3600)')
    .option('--data-root <dir>', 'serve batch jobs (/v1/jobs) over files in this folder (default: jobs API off)')
    .option('--insecure', 'serve without credentials: anyone who can connect may infer, upload and roll out (a trusted network only)')
    .option('--admin-port <port>', 'serve the management API (/v1) on this port only (default: on the HTTP port)')
    .option('--admin-host <host>', 'address of the admin listener (default: --host)')
    .option('--jwt-key-file <file>', 'accept bearer JWTs verified by this PEM public key/certificate, JWK or JWKS')
    .option('--jwt-issuer <iss>', 'required iss of accepted JWTs')
    .option('--jwt-audience <aud>', 'required aud of accepted JWTs')
    .option('--jwt-algorithms <list>', 'accepted JWT algorithms (default RS256,PS256,ES256,EdDSA,Ed25519)')
    .option('--rate-limit-per-key <rate>', 'inference requests per credential, RATE/UNIT[,burst=N] (e.g. 100/s)')
    .option('--rate-limit-per-model <model=rate>', 'inference requests per model ("*" = every other model), repeatable', collect)
    .option('--rate-limit-shared <bool>', 'share rate-limit counters between replicas through the Postgres registry (default false)')
    .option('--tls-cert <file>', 'PEM certificate chain: HTTPS, gRPC over TLS and metrics over HTTPS')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-client-ca <file>', 'require client certificates signed by this CA (mutual TLS)')
    .option('--default-max-queue-size <n>', 'max_queue_size of models whose config sets none; 0 = unbounded (default 1024)')
    .option('--request-deadline-ms <ms>', 'deadline of requests without a timeout parameter or model default; 0 = none (default 0)')
    .option('--max-inflight-requests <n>', 'HTTP infer requests in flight at once; more get 503 unread; 0 = no cap (default 1024)')
    .option('--config <file>', 'JSON or YAML file with any of the settings above (camelCase keys)')
    .option('--max-request-inputs <n>', 'inputs one inference request may carry (default 256)')
    .option('--max-request-outputs <n>', 'outputs one inference request may name (default 256)')
    .option('--max-tensor-elements <n>', 'elements of one input tensor (default 16777216)')
    .option('--max-string-tensor-elements <n>', 'elements of one BYTES input tensor (default 1048576)')
    .option('--max-string-element-bytes <bytes>', 'bytes of one BYTES element (default 16777216)')
    .option('--max-request-tensor-bytes <bytes>', 'bytes of all inputs of a request once decoded (default: the HTTP body limit)')
    .option('--max-header-bytes <bytes>', 'largest HTTP request header section (default 16384; larger is 431)')
    .option('--headers-timeout-ms <ms>', 'time an HTTP request\'s headers may take to arrive (default 15000; slower is 408)')
    .option('--request-timeout-ms <ms>', 'time a whole HTTP request may take to arrive (default 300000; slower is 408)')
    .option('--max-connections <n>', 'open HTTP connections at most; requests beyond are answered 503 (default 4096, 0 = no limit)')
    .addHelpText('after', '\nEvery setting can also come from the environment: MODELPORT_HTTP_PORT, MODELPORT_MODEL_REPOSITORY, …')
    .action(async (flags: ServeFlags) => {
      // Loaded on use, as every command's heavy modules: `modelport --help` and other commands stay quick.
      const { loadServerConfig } = await import('../config/index.js');
      let config;
      try {
        config = loadServerConfig(
          {
            modelRepository: flags.modelRepository,
            host: flags.host,
            httpPort: flags.httpPort,
            allowGrpc: flags.allowGrpc,
            grpcPort: flags.grpcPort,
            allowMetrics: flags.allowMetrics,
            metricsPort: flags.metricsPort,
            requestLogLevel: flags.requestLogLevel,
            payloadLog: flags.payloadLog,
            payloadLogDir: flags.payloadLogDir,
            payloadLogWebhook: flags.payloadLogWebhook,
            modelControlMode: flags.modelControlMode,
            loadModels: flags.loadModel,
            repositoryPollSecs: flags.repositoryPollSecs,
            logLevel: flags.logLevel,
            logFormat: flags.logFormat,
            httpBodyLimit: flags.httpBodyLimit,
            defaultMaxBatchSize: flags.defaultMaxBatchSize,
            strictReadiness: flags.strictReadiness,
            cpuCount: flags.cpuCount,
            registry: flags.registry,
            registrySyncMs: flags.registrySyncMs,
            warmWindowSecs: flags.warmWindowSecs,
            rolloutWebhook: flags.rolloutWebhook,
            maxUploadBytes: flags.maxUploadBytes,
            driftProfile: flags.driftProfile,
            driftBaseline: flags.driftBaseline,
            driftWindow: flags.driftWindow,
            driftWindowSecs: flags.driftWindowSecs,
            driftSampleRate: flags.driftSampleRate,
            driftAlertWebhook: flags.driftAlertWebhook,
            retrainCommand: flags.retrainCommand,
            retrainWebhook: flags.retrainWebhook,
            driftCooldownSecs: flags.driftCooldownSecs,
            dataRoot: flags.dataRoot,
            insecure: flags.insecure,
            adminPort: flags.adminPort,
            adminHost: flags.adminHost,
            jwtKeyFile: flags.jwtKeyFile,
            jwtIssuer: flags.jwtIssuer,
            jwtAudience: flags.jwtAudience,
            jwtAlgorithms: flags.jwtAlgorithms,
            rateLimitPerKey: flags.rateLimitPerKey,
            rateLimitPerModel: flags.rateLimitPerModel,
            rateLimitShared: flags.rateLimitShared,
            tlsCert: flags.tlsCert,
            tlsKey: flags.tlsKey,
            tlsClientCa: flags.tlsClientCa,
            maxRequestInputs: flags.maxRequestInputs,
            maxRequestOutputs: flags.maxRequestOutputs,
            maxTensorElements: flags.maxTensorElements,
            maxStringTensorElements: flags.maxStringTensorElements,
            maxStringElementBytes: flags.maxStringElementBytes,
            maxRequestTensorBytes: flags.maxRequestTensorBytes,
            maxHeaderBytes: flags.maxHeaderBytes,
            headersTimeoutMs: flags.headersTimeoutMs,
            requestTimeoutMs: flags.requestTimeoutMs,
            maxConnections: flags.maxConnections,
            defaultMaxQueueSize: flags.defaultMaxQueueSize,
            requestDeadlineMs: flags.requestDeadlineMs,
            maxInflightRequests: flags.maxInflightRequests,
          },
          process.env,
          flags.config,
        );
      } catch (error) {
        reportFailure(error, EXIT_USAGE);
        return;
      }
      // Loaded now, not with the command line: other commands have no use for the server's modules.
      const ModelportServer = await (await import('../app/index.js')).loadModelportServer();
      const server = new ModelportServer(config);
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals += 1;
        if (signals > 1) {
          server.logger.warn({ signal }, 'second signal: exiting without waiting');
          process.exit(1);
        }
        server.logger.info({ signal }, 'signal received');
        server.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            server.logger.error({ err: error }, 'error while stopping');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await server.start();
      } catch (error) {
        server.logger.error({ err: error }, 'start-up failed');
        await server.stop().catch(() => {});
        reportFailure(error);
        process.exit(1);
      }
    });
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
