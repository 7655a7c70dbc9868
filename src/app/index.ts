/** Composition root: builds and runs a Modelport server from its configuration. */
export { ModelportServer, packageVersion, type RunningAddresses } from './modelport-server.js';
export { openLocalModel, type LocalModel, type LocalModelOptions } from './local-model.js';
