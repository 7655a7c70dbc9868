/**
 * Builds the process logger: pino, JSON lines by default (one object per line, ready for a log
 * shipper), human-readable through pino-pretty when asked or when writing to a terminal.
 */
import { pino } from 'pino';
import type { Logger } from '../core/index.js';

export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty';
  name?: string;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, name: options.name ?? 'modelport' };
  if (options.format === 'pretty') {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' } } }) as unknown as Logger;
  }
  return pino(base) as unknown as Logger;
}
