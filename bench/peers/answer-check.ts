/**
 * Before a server is measured it answers one fixed V2 JSON request per model, and the report
 * compares each answer with Modelport's: a comparison of speed only means something when every
 * server computes the same thing (perf_analyzer itself never looks at the outputs).
 */
import type { PeerModel } from './peer-servers.js';

interface V2Response {
  outputs?: Array<{ name: string; data: number[] }>;
}

/** The first output of `model` for a deterministic batch-1 input, as served at `address` (host:port). */
export async function sampleAnswer(address: string, model: PeerModel): Promise<number[]> {
  const input = model.inputs[0]!;
  const shape = input.shape.map((d) => (d < 0 ? 1 : d));
  const size = shape.reduce((a, b) => a * b, 1);
  // Varied, finite values in [-1, 1]: zeros would hide a server that ignores its input.
  const data = Array.from({ length: size }, (_, i) => Math.sin(i * 0.37));
  const response = await fetch(`http://${address}/v2/models/${model.name}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: input.name, datatype: input.datatype, shape, data }] }),
  });
  const body = (await response.json()) as V2Response;
  const output = body.outputs?.find((o) => o.name === model.outputs[0]!.name);
  if (response.status !== 200 || !output) throw new Error(`${address} ${model.name}: HTTP ${response.status}, ${JSON.stringify(body).slice(0, 300)}`);
  return output.data;
}

export function maxAbsDifference(a: number[], b: number[]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
