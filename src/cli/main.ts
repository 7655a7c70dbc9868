/**
 * The `modelport` command. Subcommands: serve (run the server), models (list a server's models),
 * infer (send one request for a quick check), batch (offline inference over a JSONL, CSV or
 * Parquet file, resumable), worker and batch-submit (batch jobs shared by workers through Postgres),
 * profile and drift (reference profiles and drift reports from JSONL files such as payload logs),
 * keys (API keys), and the management API's: push (upload a version), versions, alias, route
 * (traffic splits and shadows), rollout (progressive rollouts), rollback and audit. Exit codes: 0 success, 1 the operation failed (server error, unreachable
 * server, start-up failure), 2 the command line itself was wrong.
 */
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../core/index.js';
import { registerAudit } from './audit-command.js';
import { registerBatch } from './batch-command.js';
import { registerBatchSubmit } from './batch-submit-command.js';
import { registerDrift } from './drift-command.js';
import { registerInfer } from './infer-command.js';
import { registerKeys } from './keys-command.js';
import { registerModels } from './models-command.js';
import { registerRollout } from './rollout-command.js';
import { registerRoute } from './route-command.js';
import { registerServe } from './serve-command.js';
import { registerVersions } from './versions-command.js';
import { registerWorker } from './worker-command.js';
import { EXIT_USAGE, reportFailure } from './exit.js';

const program = new Command('modelport')
  .description('Serve ONNX models over the KServe V2 / Triton inference protocol.')
  .version(packageVersion(), '-V, --version')
  .showHelpAfterError()
  .exitOverride();

registerServe(program);
registerModels(program);
registerInfer(program);
registerBatch(program);
registerBatchSubmit(program);
registerWorker(program);
registerDrift(program);
registerVersions(program);
registerRoute(program);
registerRollout(program);
registerAudit(program);
registerKeys(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    reportFailure(error);
  }
}
