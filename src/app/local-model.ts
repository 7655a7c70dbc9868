/**
 * One model of a repository folder, loaded in this process with no listeners: the same runtime,
 * repository, scheduler and data plane the server composes, in explicit control mode with only
 * that model loaded. For commands that run a model themselves (`modelport batch` without --url).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { mpError, packageVersion, silentLogger, type Logger } from '../core/index.js';
import { DataPlane, StatisticsRecorder, type DataPlaneApi } from '../dataplane/index.js';
import { fileDigest, FolderRepository } from '../repository/index.js';
import { OnnxRuntime } from '../runtime/index.js';

export interface LocalModelOptions {
  modelRepository: string;
  model: string;
  /** Cores inference may use (default: all). */
  cpuCount?: number;
  /** Model instances, sharing the cores (default: the configuration's instance_group). */
  instances?: number;
  /** max_batch_size for batchable models without a config (default 4, as the server's). */
  defaultMaxBatchSize?: number;
  logger?: Logger;
}

export interface LocalModel {
  dataPlane: DataPlaneApi;
  /** sha256 of a loaded version's model file ("sha256:<hex>"), computed on first ask. */
  digest(version: string): Promise<string | undefined>;
  /** Drains the scheduler and closes the instances. */
  close(): Promise<void>;
}

/** Loads `model` from the repository; throws with the repository's reason when no version comes up. */
export async function openLocalModel(options: LocalModelOptions): Promise<LocalModel> {
  const logger = options.logger ?? silentLogger;
  const runtime = new OnnxRuntime({ logger: logger.child({ component: 'runtime' }) });
  const repository = new FolderRepository({
    root: options.modelRepository,
    runtime,
    controlMode: 'explicit',
    startupModels: [options.model],
    cpuCount: options.cpuCount ?? availableParallelism(),
    ...(options.instances !== undefined ? { instances: options.instances } : {}),
    ...(options.defaultMaxBatchSize !== undefined ? { defaultMaxBatchSize: options.defaultMaxBatchSize } : {}),
    logger: logger.child({ component: 'repository' }),
  });
  const dataPlane = new DataPlane({ repository, statistics: new StatisticsRecorder(), serverVersion: packageVersion() });
  try {
    await repository.start();
  } catch (error) {
    await repository.stop().catch(() => undefined);
    throw error;
  }
  const entry = repository.models().find((m) => m.name === options.model);
  const ready = entry?.versions.filter((v) => v.state === 'READY') ?? [];
  if (ready.length === 0) {
    await repository.stop();
    const reasons = [entry?.reason, ...(entry?.versions.map((v) => (v.reason ? `version ${v.version}: ${v.reason}` : '')) ?? [])].filter(Boolean);
    throw mpError(
      'MP_ERR_MODEL_LOAD',
      `cannot load model '${options.model}' from '${options.modelRepository}'${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`,
    );
  }
  dataPlane.setAccepting(true);
  const digests = new Map<string, Promise<string | undefined>>();
  return {
    dataPlane,
    digest(version) {
      let digest = digests.get(version);
      if (digest === undefined) {
        const config = dataPlane.modelConfig(options.model, version);
        const file = join(options.modelRepository, options.model, version, config.default_model_filename || runtime.defaultModelFilename);
        digest = fileDigest(file).then(
          (d) => d.digest,
          () => undefined,
        );
        digests.set(version, digest);
      }
      return digest;
    },
    close: () => repository.stop(),
  };
}
