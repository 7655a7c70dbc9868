/**
 * How differently a canary answers from the stable arm on the same traffic: each arm keeps the
 * first rows of its outputs in a rollout step (every numeric output element is a column), and the
 * comparison bins both arms' columns on the stable arm's deciles and takes the Jensen–Shannon
 * distance per column. Requests are split at random, so the arms see the same input distribution;
 * a distance above the drift alert threshold means the candidate itself answers differently.
 */
import type { Tensor } from '../core/index.js';
import { jensenShannonDistance } from '../monitoring/index.js';

/** Rows each arm keeps per step: enough for stable deciles, bounded memory whatever the traffic. */
const DEFAULT_CAPACITY = 2000;
/** Fewest rows per arm before a distance means anything. */
export const MIN_OUTPUT_ROWS = 100;

export class ArmOutputSample {
  readonly #capacity: number;
  #names: string[] | undefined;
  #columns: Float64Array[] = [];
  rows = 0;

  constructor(capacity = DEFAULT_CAPACITY) {
    this.#capacity = capacity;
  }

  get names(): readonly string[] {
    return this.#names ?? [];
  }

  column(index: number): Float64Array {
    return this.#columns[index]!.subarray(0, this.rows);
  }

  /** Adds a response's rows (dim 0 of each output) until the sample is full; non-numeric outputs are skipped. */
  record(outputs: readonly Tensor[]): void {
    if (this.rows >= this.#capacity) return;
    const numeric = outputs.filter((t) => !Array.isArray(t.data) && typeof (t.data as ArrayLike<unknown>)[0] !== 'bigint');
    if (numeric.length === 0) return;
    const rowCount = numeric[0]!.shape.length > 1 ? numeric[0]!.shape[0]! : 1;
    const widths = numeric.map((t) => (rowCount > 0 ? (t.data as ArrayLike<number>).length / rowCount : 0));
    if (!this.#names) {
      this.#names = numeric.flatMap((t, i) => Array.from({ length: widths[i]! }, (_, j) => `${t.name}[${j}]`));
      this.#columns = this.#names.map(() => new Float64Array(this.#capacity));
    }
    if (widths.reduce((a, b) => a + b, 0) !== this.#columns.length) return; // another shape: not comparable
    for (let r = 0; r < rowCount && this.rows < this.#capacity; r++, this.rows++) {
      let column = 0;
      for (let i = 0; i < numeric.length; i++) {
        const data = numeric[i]!.data as ArrayLike<number>;
        const width = widths[i]!;
        for (let j = 0; j < width; j++) this.#columns[column++]![this.rows] = Number(data[r * width + j]);
      }
    }
  }
}

export interface OutputDrift {
  /** Largest distance over the output columns, and where. */
  distance: number;
  column: string;
}

/** Undefined while either arm has fewer than MIN_OUTPUT_ROWS rows or their outputs differ in shape. */
export function compareOutputs(stable: ArmOutputSample, canary: ArmOutputSample): OutputDrift | undefined {
  if (stable.rows < MIN_OUTPUT_ROWS || canary.rows < MIN_OUTPUT_ROWS) return undefined;
  if (stable.names.length === 0 || stable.names.join() !== canary.names.join()) return undefined;
  let worst: OutputDrift = { distance: 0, column: stable.names[0]! };
  for (let c = 0; c < stable.names.length; c++) {
    const reference = Float64Array.from(stable.column(c)).sort();
    const edges = decileEdges(reference);
    const distance = jensenShannonDistance(shares(edges, reference), shares(edges, canary.column(c)));
    if (distance > worst.distance) worst = { distance, column: stable.names[c]! };
  }
  return worst;
}

/** Distinct inner decile boundaries of sorted values: constant columns get one bin. */
function decileEdges(sorted: Float64Array): number[] {
  const edges: number[] = [];
  for (let d = 1; d < 10; d++) {
    const value = sorted[Math.min(sorted.length - 1, Math.floor((d * sorted.length) / 10))]!;
    if (edges.length === 0 || value > edges[edges.length - 1]!) edges.push(value);
  }
  return edges;
}

function shares(edges: readonly number[], values: ArrayLike<number>): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    let bin = 0;
    while (bin < edges.length && value >= edges[bin]!) bin++;
    counts[bin]!++;
  }
  return counts.map((c) => c / Math.max(1, values.length));
}
