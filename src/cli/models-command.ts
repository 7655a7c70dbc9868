/** `modelport models`: a table of a running server's models, versions, states and reasons. */
import type { Command } from 'commander';
import { DEFAULT_GRPC_ADDRESS, DEFAULT_URL, postJson } from './http-client.js';
import { formatTable } from './table.js';
import { reportFailure } from './exit.js';

interface IndexEntry {
  name: string;
  version?: string;
  state: string;
  reason?: string;
}

export function registerModels(program: Command): void {
  program
    .command('models')
    .description('list the models of a running server with their versions and states')
    .option('--url <url>', 'server base URL', DEFAULT_URL)
    .option('--grpc [address]', `use the gRPC endpoint (default address ${DEFAULT_GRPC_ADDRESS})`)
    .option('--json', 'print the repository index as JSON')
    .action(async (flags: { url: string; grpc?: string | true; json?: boolean }) => {
      try {
        const index = flags.grpc ? await grpcIndex(flags.grpc === true ? DEFAULT_GRPC_ADDRESS : flags.grpc) : await postJson<IndexEntry[]>(flags.url, 'v2/repository/index', {});
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(index, null, 2)}\n`);
          return;
        }
        process.stdout.write(formatTable(['MODEL', 'VERSION', 'STATE', 'REASON'], index.map((e) => [e.name, e.version ?? '-', e.state, e.reason ?? ''])));
      } catch (error) {
        reportFailure(error);
      }
    });
}

async function grpcIndex(address: string): Promise<IndexEntry[]> {
  // gRPC's modules load only for --grpc.
  const { GrpcInferenceClient } = await import('../adapters/grpc/index.js');
  const client = new GrpcInferenceClient(address, process.env.MODELPORT_TOKEN);
  try {
    const { models } = await client.call<{ models: Array<{ name: string; version: string; state: string; reason: string }> }>('RepositoryIndex', {});
    // Same shape as the REST index: empty version and reason are absent there.
    return models.map((m) => ({ name: m.name, ...(m.version ? { version: m.version } : {}), state: m.state, ...(m.reason ? { reason: m.reason } : {}) }));
  } finally {
    client.close();
  }
}

