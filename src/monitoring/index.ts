/** Logging (and, later, metrics and drift) shared by every layer. */
export { createLogger, type LoggerOptions } from './logger.js';
