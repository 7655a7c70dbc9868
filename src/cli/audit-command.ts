/** `modelport audit`: the registry's audit log (who changed what, when, from what to what, why), newest first. */
import type { Command } from 'commander';
import type { AuditEntry } from '../core/index.js';
import { parsePositiveCount, parseTime } from './management-args.js';
import { ManagementClient, clientOptions, formatTime, printJson, type ClientFlags } from './management-client.js';
import { formatTable } from './table.js';
import { reportFailure } from './exit.js';

interface AuditFlags extends ClientFlags {
  limit?: number;
  until?: string;
}

export function registerAudit(program: Command): void {
  clientOptions(
    program
      .command('audit')
      .description('show the audit log of one model or of all, newest first')
      .argument('[model]', 'only this model')
      .option('--limit <n>', 'at most this many entries', parsePositiveCount)
      .option('--until <time>', 'entries before this time (ISO 8601)', parseTime),
  ).action(async (model: string | undefined, flags: AuditFlags) => {
    try {
      const entries = await new ManagementClient(flags).get<AuditEntry[]>('v1/audit', { model, limit: flags.limit, until: flags.until });
      if (flags.json) return printJson(entries);
      if (entries.length === 0) {
        process.stdout.write('no entries\n');
        return;
      }
      process.stdout.write(
        formatTable(
          ['AT', 'ACTOR', 'MODEL', 'ACTION', 'FROM', 'TO', 'REASON'],
          entries.map((e) => [formatTime(e.at), e.actor, e.model, e.action, e.from || '-', e.to || '-', e.reason]),
        ),
      );
    } catch (error) {
      reportFailure(error);
    }
  });
}
