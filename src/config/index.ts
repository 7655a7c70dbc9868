/** Server configuration: schema, sources and validation. */
export { loadServerConfig, envName, DEFAULTS, type ServerConfig, type LogLevel, type LogFormat } from './server-config.js';
