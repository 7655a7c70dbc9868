/** Core vocabulary shared by every layer: datatypes, tensors, requests, configs, errors. */
export * from './datatypes.js';
export * from './half-float.js';
export * from './tensor.js';
export * from './raw-tensor-codec.js';
export * from './request-limits.js';
export * from './errors.js';
export * from './inference.js';
export * from './request-id.js';
export * from './model-config.js';
export * from './model-state.js';
export * from './signature.js';
export * from './logger.js';
export * from './registry.js';
export * from './version.js';
export * from './background-thread.js';
export * from './worker-options.js';
