/**
 * `modelport route`: shows how a model's traffic is split between versions (with each arm's
 * counts and the shadow's agreement), or changes it. A change starts from the current routing and
 * replaces what the flags give (--set the arms, --shadow, --sticky-header), or takes a whole spec
 * from --file; --dry-run shows the diff the server computed without applying it.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { RoutingSpec } from '../core/index.js';
import type { RoutingChange, RoutingView } from '../dataplane/index.js';
import { EXIT_USAGE, reportFailure } from './exit.js';
import { parseShadow, parseSplit, type Arm } from './management-args.js';
import { ManagementClient, clientOptions, formatTime, modelPath, printJson, printLines, type ClientFlags } from './management-client.js';
import { formatTable } from './table.js';

interface RouteFlags extends ClientFlags {
  file?: string;
  set?: Arm[];
  shadow?: ReturnType<typeof parseShadow>;
  stickyHeader?: string;
  reason?: string;
  dryRun?: boolean;
}

/** A spec as the server takes it: seed optional (the current one is kept), unknown keys passed on. */
type SpecInput = Partial<RoutingSpec> & Record<string, unknown>;

export function registerRoute(program: Command): void {
  clientOptions(
    program
      .command('route')
      .description("show a model's routing, or change it (flags replace parts of the current routing; --file gives a whole spec)")
      .argument('<model>', 'model name')
      .option('--file <spec.json>', 'a routing spec as JSON: {"arms": [{"name", "version", "weight"}], "sticky", "rules", "shadow"}')
      .option('--set <arms>', "arms as NAME=VERSION:WEIGHT,… e.g. 'stable=1:90,canary=2:10'", parseSplit)
      .option('--shadow <version:percent>', "mirror PERCENT of requests to VERSION (answers compared, never returned); 'off' removes it", parseShadow)
      .option('--sticky-header <header>', "requests with the same value of this header stay on one arm; 'off' removes it")
      .option('--reason <text>', 'why, for the audit log')
      .option('--dry-run', 'show what would change without applying it'),
  ).action(async (model: string, flags: RouteFlags) => {
    if (flags.file !== undefined && flags.set !== undefined) {
      reportFailure(new Error('give the arms with either --file or --set, not both'), EXIT_USAGE);
      return;
    }
    const changes = flags.file !== undefined || flags.set !== undefined || flags.shadow !== undefined || flags.stickyHeader !== undefined;
    try {
      const client = new ManagementClient(flags);
      if (!changes) {
        const view = await client.get<RoutingView>(modelPath(model, 'routing'));
        if (flags.json) return printJson(view);
        return printLines(...describeRouting(view));
      }
      const spec = flags.file !== undefined ? await specFromFile(flags.file) : await currentSpec(client, model, flags.set !== undefined);
      applyFlags(spec, flags);
      const change = await client.put<RoutingChange>(
        modelPath(model, 'routing'),
        { ...spec, ...(flags.reason !== undefined ? { reason: flags.reason } : {}) },
        { dry_run: flags.dryRun === true },
      );
      if (flags.json) return printJson(change);
      printLines(...describeChange(change));
    } catch (error) {
      reportFailure(error);
    }
  });
}

async function specFromFile(file: string): Promise<SpecInput> {
  const text = await readFile(file, 'utf8');
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new Error(`${file} must hold a JSON object (a routing spec)`);
  return spec as SpecInput;
}

/** The current spec without its seed (the server keeps it), to change in part. */
async function currentSpec(client: ManagementClient, model: string, armsGiven: boolean): Promise<SpecInput> {
  const view = await client.get<RoutingView>(modelPath(model, 'routing'));
  if (!view.routing) {
    if (!armsGiven) throw new Error(`${model} has no routing yet: give its arms with --set or --file`);
    return {};
  }
  const { seed: _seed, ...spec } = view.routing.spec;
  return spec;
}

/** Puts --set, --shadow and --sticky-header into the spec. */
export function applyFlags(spec: SpecInput, flags: Pick<RouteFlags, 'set' | 'shadow' | 'stickyHeader'>): SpecInput {
  if (flags.set !== undefined) spec.arms = flags.set;
  if (flags.shadow === 'off') delete spec.shadow;
  else if (flags.shadow !== undefined) spec.shadow = flags.shadow;
  if (flags.stickyHeader === 'off') delete spec.sticky;
  else if (flags.stickyHeader !== undefined) spec.sticky = { header: flags.stickyHeader };
  return spec;
}

export function describeRouting(view: RoutingView): string[] {
  const routing = view.routing;
  if (!routing) return [`${view.model} has no routing: requests go to the highest READY version`];
  const spec = routing.spec;
  const lines = [`${view.model}: revision ${routing.revision}, updated ${formatTime(routing.updatedAt)} by ${routing.updatedBy}`];
  const counted = new Map(view.arms.map((a) => [a.arm, a]));
  const table = formatTable(
    ['ARM', 'VERSION', 'WEIGHT', 'REQUESTS', 'ERRORS', 'P99'],
    spec.arms.map((arm) => {
      const counts = counted.get(arm.name);
      return [
        arm.name,
        String(arm.version),
        `${arm.weight}%`,
        counts ? String(counts.requests) : '-',
        counts ? String(counts.errors) : '-',
        counts?.p99Ms != null ? `${round(counts.p99Ms)}ms` : '-',
      ];
    }),
  );
  lines.push(...table.trimEnd().split('\n'));
  if (spec.sticky?.header) lines.push(`sticky: header ${spec.sticky.header}`);
  if (spec.sticky?.parameter) lines.push(`sticky: parameter ${spec.sticky.parameter}`);
  for (const rule of spec.rules ?? []) {
    lines.push(`rule: ${rule.header !== undefined ? `header ${rule.header}` : `parameter ${rule.parameter}`} = ${rule.equals} → ${rule.arm}`);
  }
  if (spec.shadow) {
    const s = view.shadow;
    const figures = s
      ? `: mirrored ${s.mirrored}, agreed ${s.agreed}, disagreed ${s.disagreed}, failed ${s.failed}, latency ${s.latencyDeltaMs >= 0 ? '+' : ''}${round(s.latencyDeltaMs)}ms`
      : '';
    lines.push(`shadow: version ${spec.shadow.version}, ${spec.shadow.percent}%${figures}`);
  }
  return lines;
}

export function describeChange(change: RoutingChange): string[] {
  const head = change.dryRun ? 'dry run, nothing applied:' : `applied${change.routing ? ` (revision ${change.routing.revision})` : ''}:`;
  return [head, ...(change.diff.length > 0 ? change.diff.map((line) => `  ${line}`) : ['  no change'])];
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
