/**
 * The merge step of a distributed job, which the engine keeps private (BatchEngine.run merges as
 * its last step): the part files of every partition, named as the engine names them
 * (partPath/errorPartPath), concatenated into the output and the errors file, then the parts
 * folder removed. Written here rather than in the engine because here the merge runs on its own,
 * in whichever worker took the merge message, and may run twice: a merge message whose worker
 * died is delivered again. So a merge that finds the parts folder gone and the output in place
 * reports that it was already done, and its temporary files carry a unique suffix, so two merges
 * running at once never write into the same file (both then rename identical bytes into place).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { mpError } from '../../core/index.js';
import { errorPartPath, partPath, syncDir, type BatchPlan } from '../batch-engine.js';
import { concatParts } from '../formats/index.js';

/** Folder beside the parts where workers write a partition before moving it into the parts folder. */
export function stagingDir(plan: Pick<BatchPlan, 'partsDir'>): string {
  return `${plan.partsDir}.staging`;
}

/** 'merged', or 'already' when an earlier merge of this plan completed. */
export async function mergeParts(plan: BatchPlan): Promise<'merged' | 'already'> {
  const { spec, partsDir, partitions } = plan;
  if (!existsSync(partsDir)) {
    if (existsSync(spec.output)) return 'already';
    throw mpError('MP_ERR_JOB_STATE', `cannot merge the job writing '${spec.output}': its parts folder '${partsDir}' is gone`);
  }
  const parts = partitions.map((p) => partPath(partsDir, p, spec.outputFormat));
  const errorParts = partitions.map((p) => errorPartPath(partsDir, p));
  const missing = partitions.filter((_, i) => !existsSync(parts[i]!) || !existsSync(errorParts[i]!)).map((p) => p.index);
  if (missing.length > 0) {
    throw mpError('MP_ERR_JOB_STATE', `cannot merge the job writing '${spec.output}': partitions ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''} have no part file`);
  }
  const suffix = randomUUID().slice(0, 8);
  // The engine's clearPartsDir recognises "merged.*" as its own, so a leftover never blocks a re-run.
  const outputTmp = join(partsDir, `merged.${suffix}.${spec.outputFormat}.tmp`);
  const errorsTmp = join(dirname(spec.errors), `.${basename(spec.errors)}.${suffix}.tmp`);
  try {
    await concatParts(parts, outputTmp, spec.outputFormat);
    await concatParts(errorParts, errorsTmp, 'jsonl');
    // Errors first, as the engine does: the output appearing is the sign the job completed.
    await rename(errorsTmp, spec.errors);
    await rename(outputTmp, spec.output);
  } catch (error) {
    await unlink(outputTmp).catch(() => undefined);
    await unlink(errorsTmp).catch(() => undefined);
    // A concurrent merge may have finished and removed the parts under us.
    if (!existsSync(partsDir) && existsSync(spec.output)) return 'already';
    throw error;
  }
  await syncDir(dirname(spec.output));
  if (dirname(spec.errors) !== dirname(spec.output)) await syncDir(dirname(spec.errors));
  await rm(partsDir, { recursive: true, force: true });
  await rm(stagingDir(plan), { recursive: true, force: true });
  return 'merged';
}
