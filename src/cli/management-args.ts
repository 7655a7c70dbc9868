/**
 * Parsers for the command-line values of the management commands (push, alias, route, rollout,
 * rollback, audit): durations, traffic splits, shadows, tags, steps and numbers. Each throws
 * commander's InvalidArgumentError, so used as an option's parser a bad value ends as a usage
 * error (exit code 2) that names the option.
 */
import { InvalidArgumentError } from 'commander';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "500ms", "30s", "5m", "1h", "1.5s" or plain milliseconds ("250") into whole milliseconds. */
export function parseDuration(value: string): number {
  const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!match) throw new InvalidArgumentError(`expected a duration such as 500ms, 30s, 5m or plain milliseconds, got '${value}'`);
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!);
  if (ms <= 0) throw new InvalidArgumentError(`expected a duration above zero, got '${value}'`);
  return ms;
}

/** A version number ("3" → 3) or an alias ("prod"), as the server takes either. */
export function parseVersionRef(value: string): number | string {
  const trimmed = value.trim();
  if (trimmed === '') throw new InvalidArgumentError('expected a version number or an alias');
  return /^[0-9]+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** A version number only. */
export function parseVersionNumber(value: string): number {
  const trimmed = value.trim();
  if (!/^[0-9]+$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) throw new InvalidArgumentError(`expected a version number, got '${value}'`);
  return Number(trimmed);
}

export interface Arm {
  name: string;
  version: number;
  weight: number;
}

/**
 * `--set 'stable=1:90,canary=2:10'`: arm name = version : weight in percent. A single arm may
 * leave out its weight (it takes all the traffic).
 */
export function parseSplit(value: string): Arm[] {
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new InvalidArgumentError(`expected arms such as 'stable=1:90,canary=2:10', got '${value}'`);
  const arms = parts.map((part) => {
    const match = /^([^=\s]+)\s*=\s*([0-9]+)\s*(?::\s*([0-9]+(?:\.[0-9]+)?))?$/.exec(part);
    if (!match) throw new InvalidArgumentError(`expected NAME=VERSION:WEIGHT (e.g. canary=2:10), got '${part}'`);
    if (match[3] === undefined && parts.length > 1) throw new InvalidArgumentError(`arm '${match[1]}' needs a weight (NAME=VERSION:WEIGHT) when there are several arms`);
    return { name: match[1]!, version: Number(match[2]), weight: match[3] === undefined ? 100 : Number(match[3]) };
  });
  const names = new Set<string>();
  for (const arm of arms) {
    if (names.has(arm.name)) throw new InvalidArgumentError(`arm '${arm.name}' appears twice in '${value}'`);
    names.add(arm.name);
  }
  return arms;
}

/** `--shadow 2:5` mirrors 5% of requests to version 2; `--shadow off` removes the shadow. */
export function parseShadow(value: string): { version: number; percent: number } | 'off' {
  const trimmed = value.trim();
  if (trimmed === 'off' || trimmed === 'none') return 'off';
  const match = /^([0-9]+)\s*:\s*([0-9]+(?:\.[0-9]+)?)%?$/.exec(trimmed);
  if (!match) throw new InvalidArgumentError(`expected VERSION:PERCENT (e.g. 2:5) or 'off', got '${value}'`);
  const percent = Number(match[2]);
  if (percent > 100) throw new InvalidArgumentError(`the shadow's percent must be at most 100, got ${percent}`);
  return { version: Number(match[1]), percent };
}

/** `--tag team=search`, repeatable: collects into an object. */
export function collectTag(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  const key = at < 0 ? '' : value.slice(0, at).trim();
  if (key === '') throw new InvalidArgumentError(`expected KEY=VALUE, got '${value}'`);
  // The server takes tags as comma-separated pairs.
  if (value.includes(',')) throw new InvalidArgumentError(`tags cannot contain ',': '${value}'`);
  return { ...previous, [key]: value.slice(at + 1).trim() };
}

/** Tags as the upload's `tags` query parameter. */
export function formatTags(tags: Record<string, string>): string {
  return Object.entries(tags).map(([key, value]) => `${key}=${value}`).join(',');
}

/** `--steps 10,25,50,100`: canary weights in percent. */
export function parseSteps(value: string): number[] {
  const steps = value.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (steps.length === 0 || steps.some((s) => !Number.isFinite(s) || s <= 0 || s > 100)) {
    throw new InvalidArgumentError(`expected weights in percent separated by commas, each above 0 and at most 100 (e.g. 10,25,50,100), got '${value}'`);
  }
  return steps;
}

export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number above zero, got '${value}'`);
  return n;
}

/** A share such as an error rate: 0.01 is 1%. */
export function parseRate(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`expected a fraction from 0 to 1 (0.01 = 1%), got '${value}'`);
  return n;
}

export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\s*[0-9]+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected a whole number, got '${value}'`);
  return n;
}

export function parsePositiveCount(value: string): number {
  const n = parseCount(value);
  if (n === 0) throw new InvalidArgumentError(`expected a whole number above zero, got '${value}'`);
  return n;
}

/** An ISO 8601 time (or anything Date parses), normalised to ISO 8601 for the server. */
export function parseTime(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`expected a time such as 2024-05-01T12:00:00Z, got '${value}'`);
  return new Date(ms).toISOString();
}
