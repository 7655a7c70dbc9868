/**
 * Copies of a sampled request's inputs, taken before inference (the request's buffers may move to
 * a worker thread) and held until the payload logger has copied them into its ring. The buffers
 * are reused: a fresh ArrayBuffer per logged request measured ~3 µs to allocate on the request
 * thread (plus its share of collection), a reused one ~0.2 µs to fill. Only buffers made here go
 * back to the pool, so a caller's own tensors are never overwritten.
 */
import { isBytesData, type NumericArray, type Tensor } from '../../core/index.js';

/** Buffers kept per size; more than this in flight at once are allocated and left to the collector. */
const KEEP_PER_SIZE = 64;
/** Sizes kept: the pool is for the small tensors that make most of the traffic. */
const MAX_POOLED_BYTES = 64 * 1024;
const MAX_SIZES = 32;

type NumericConstructor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => NumericArray;

export class InputCopies {
  readonly #free = new Map<number, ArrayBuffer[]>();
  readonly #ours = new WeakSet<ArrayBuffer>();

  /** Copies of `inputs` that share no memory with them. */
  copy(inputs: readonly Tensor[]): Tensor[] {
    const copies = new Array<Tensor>(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      const t = inputs[i]!;
      copies[i] = { name: t.name, datatype: t.datatype, shape: t.shape, data: this.#copyData(t.data) };
    }
    return copies;
  }

  /** Takes back the buffers of copies made by copy(); other tensors are left alone. */
  release(tensors: readonly Tensor[]): void {
    for (let i = 0; i < tensors.length; i++) {
      const data = tensors[i]!.data;
      if (isBytesData(data)) continue;
      const buffer = data.buffer as ArrayBuffer;
      if (!this.#ours.has(buffer)) continue;
      let free = this.#free.get(buffer.byteLength);
      if (free === undefined) {
        if (this.#free.size >= MAX_SIZES) continue;
        free = [];
        this.#free.set(buffer.byteLength, free);
      }
      if (free.length < KEEP_PER_SIZE) free.push(buffer);
    }
  }

  #copyData(data: Tensor['data']): Tensor['data'] {
    if (isBytesData(data)) return [...data];
    const bytes = data.byteLength;
    if (bytes === 0 || bytes > MAX_POOLED_BYTES) return data.slice();
    let buffer = this.#free.get(bytes)?.pop();
    if (buffer === undefined) {
      buffer = new ArrayBuffer(bytes);
      this.#ours.add(buffer);
    }
    const copy = new (data.constructor as NumericConstructor)(buffer, 0, data.length);
    copy.set(data as never);
    return copy;
  }
}
