/**
 * `modelport push` uploads a model file as a new version (hashed first, then streamed with its
 * digest so the server refuses a file that changed on the way); `modelport versions` lists a
 * model's versions; `modelport alias` lists, sets or deletes a model's aliases.
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import type { AliasRecord } from '../core/index.js';
import type { VersionView } from '../dataplane/index.js';
import { EXIT_USAGE, reportFailure } from './exit.js';
import { collectTag, formatTags, parseVersionRef } from './management-args.js';
import {
  ManagementClient,
  clientOptions,
  fileDigest,
  formatBytes,
  formatTime,
  modelPath,
  printJson,
  printLines,
  shortDigest,
  type ClientFlags,
} from './management-client.js';
import { formatTable } from './table.js';

interface PushFlags extends ClientFlags {
  alias?: string;
  description?: string;
  source?: string;
  runId?: string;
  tag?: Record<string, string>;
}

interface AliasFlags extends ClientFlags {
  delete?: string;
}

export function registerVersions(program: Command): void {
  clientOptions(
    program
      .command('push')
      .description('upload an ONNX file as a new version of a model (it serves only once routed, or through an alias that serves)')
      .argument('<model>', 'model name')
      .argument('<file>', 'the .onnx file')
      .option('--alias <name>', 'point this alias at the new version')
      .option('--description <text>', 'what this version is')
      .option('--source <text>', 'where the file came from (default: set by the server)')
      .option('--run-id <id>', 'training run or pipeline run that produced it')
      .option('--tag <key=value>', 'a tag, repeatable', collectTag),
  ).action(async (model: string, file: string, flags: PushFlags) => {
    try {
      const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
        throw new Error(`cannot read ${file}: ${error.code ?? error.message}`);
      });
      if (!info.isFile()) throw new Error(`${file} is not a file`);
      const digest = await fileDigest(file);
      const client = new ManagementClient(flags);
      const view = await client.upload<VersionView>(modelPath(model, 'versions'), file, digest, {
        alias: flags.alias,
        description: flags.description,
        source: flags.source,
        run_id: flags.runId,
        tags: flags.tag && Object.keys(flags.tag).length > 0 ? formatTags(flags.tag) : undefined,
      });
      if (flags.json) return printJson(view);
      printLines(`pushed ${view.model} version ${view.version}: ${view.digest} (${formatBytes(view.size)})`);
      if (view.aliases.length > 0) printLines(`aliases: ${view.aliases.join(', ')}`);
    } catch (error) {
      reportFailure(error);
    }
  });

  clientOptions(
    program.command('versions').description("list a model's versions with their states, aliases and arms").argument('<model>', 'model name'),
  ).action(async (model: string, flags: ClientFlags) => {
    try {
      const versions = await new ManagementClient(flags).get<VersionView[]>(modelPath(model, 'versions'));
      if (flags.json) return printJson(versions);
      process.stdout.write(formatVersions(versions));
    } catch (error) {
      reportFailure(error);
    }
  });

  clientOptions(
    program
      .command('alias')
      .description("list a model's aliases, point NAME at VERSION, or delete one with --delete")
      .argument('<model>', 'model name')
      .argument('[name]', 'alias to set')
      .argument('[version]', 'version number or another alias to point it at')
      .option('--delete <name>', 'delete this alias'),
  ).action(async (model: string, name: string | undefined, version: string | undefined, flags: AliasFlags) => {
    let target: number | string | undefined;
    try {
      if (flags.delete !== undefined && name !== undefined) throw new Error('give either NAME VERSION or --delete NAME, not both');
      if (name !== undefined && version === undefined) throw new Error(`alias '${name}' needs a VERSION to point at`);
      if (version !== undefined) target = parseVersionRef(version);
    } catch (error) {
      reportFailure(error, EXIT_USAGE);
      return;
    }
    try {
      const client = new ManagementClient(flags);
      if (flags.delete !== undefined) {
        await client.delete(modelPath(model, 'aliases', flags.delete));
        if (flags.json) return printJson({ deleted: flags.delete });
        return printLines(`deleted alias ${flags.delete} of ${model}`);
      }
      if (name !== undefined && target !== undefined) {
        const alias = await client.put<AliasRecord>(modelPath(model, 'aliases', name), { version: target });
        if (flags.json) return printJson(alias);
        return printLines(`${alias.alias} → ${alias.model} version ${alias.version}`);
      }
      const aliases = await client.get<AliasRecord[]>(modelPath(model, 'aliases'));
      if (flags.json) return printJson(aliases);
      if (aliases.length === 0) return printLines(`${model} has no aliases`);
      process.stdout.write(formatTable(['ALIAS', 'VERSION', 'UPDATED', 'BY'], aliases.map((a) => [a.alias, String(a.version), formatTime(a.updatedAt), a.updatedBy])));
    } catch (error) {
      reportFailure(error);
    }
  });
}

export function formatVersions(versions: VersionView[]): string {
  return formatTable(
    ['VERSION', 'STATE', 'ALIASES', 'ARMS', 'SIZE', 'CREATED', 'BY', 'DIGEST', 'DESCRIPTION'],
    versions.map((v) => [
      String(v.version),
      v.state,
      v.aliases.join(',') || '-',
      v.arms.join(',') || '-',
      formatBytes(v.size),
      formatTime(v.createdAt),
      v.createdBy,
      shortDigest(v.digest),
      v.description,
    ]),
  );
}
