/** Composition root: builds and runs a Modelport server from its configuration. */
export type { ModelportServer, RunningAddresses } from './modelport-server.js';
export { openLocalModel, type LocalModel, type LocalModelOptions } from './local-model.js';
export { packageVersion } from '../core/index.js';

/**
 * The server class, loaded on demand: its adapters (HTTP, gRPC, metrics) are most of Modelport's
 * modules, and commands that only open a model here (`modelport batch`) should not load them.
 */
export async function loadModelportServer(): Promise<typeof import('./modelport-server.js').ModelportServer> {
  return (await import('./modelport-server.js')).ModelportServer;
}
