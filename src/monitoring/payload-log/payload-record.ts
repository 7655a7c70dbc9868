/**
 * The CloudEvents 1.0 record of one logged inference as JSON text, built on the logging thread
 * from what the wire format (payload-wire.ts) delivers. Concatenating the few fixed fields is
 * several times cheaper than building an object and serialising it, and the text is what both
 * sinks need. The text is the JSON of toCloudEvent(...) (the tests hold the two together), and
 * byte for byte what JSON.stringify gives when every string in it is ASCII; other characters are
 * written as \u escapes, so that records are always ASCII and the sinks can write them as bytes
 * without a UTF-8 pass (the one character set JSON parsers must accept either way). This module
 * imports no Modelport code, so the logging thread starts with little to load.
 */
import { createHash } from 'node:crypto';

/** A tensor as the logging thread holds it: names quoted for JSON (ASCII, as asciiJson gives them), raw bytes as a range of the ring. */
export interface RawTensor {
  nameJson: string;
  datatypeJson: string;
  shape: readonly number[];
  bytes: Buffer;
  start: number;
  end: number;
}

/** One finished request as the logging thread receives it; empty strings stand for absent fields. */
export interface RawEvent {
  timeMs: number;
  latencyMs: number;
  modelJson: string;
  versionJson: string;
  armJson: string;
  protocolJson: string;
  outcomeJson: string;
  requestId: string;
  traceId: string;
  error: string;
  inputs: RawTensor[];
  /** Absent for requests that failed before producing outputs. */
  outputs: RawTensor[] | undefined;
}

export const EVENT_TYPE = 'org.modelport.inference.v1';

/** What is logged of a tensor above the size limit, besides its size. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const NON_ASCII = /[^\x00-\x7f]/;
const NON_ASCII_ALL = /[^\x00-\x7f]/g;

/** JSON.stringify(text), with every character outside ASCII as a \u escape. */
export function asciiJson(text: string): string {
  const json = JSON.stringify(text);
  if (!NON_ASCII.test(json)) return json;
  return json.replace(NON_ASCII_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A JSON number as JSON.stringify writes it (non-finite values become null). */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

/**
 * A latency as JSON.stringify writes it, fast for the usual case: nanoseconds divided by 1e6.
 * Such a value below 1e9 has at most 15 significant digits, so its shortest round-trip form —
 * what JSON.stringify writes — is the plain decimal with trailing zeros removed, which integer
 * arithmetic builds several times faster than the general double-to-string conversion.
 */
export function latencyJson(ms: number): string {
  if (!(ms >= 0 && ms < 1e9)) return jsonNumber(ms);
  const ns = Math.round(ms * 1e6);
  if (ns / 1e6 !== ms) return jsonNumber(ms);
  const whole = Math.floor(ns / 1e6);
  let fraction = ns - whole * 1e6;
  if (fraction === 0) return String(whole);
  let digits = 6;
  while (fraction % 10 === 0) {
    fraction /= 10;
    digits -= 1;
  }
  return `${whole}.${String(fraction).padStart(digits, '0')}`;
}

/** Builds records; keeps the timestamp down to the second, since formatting a date is slow. */
export class RecordWriter {
  readonly #sourceJson: string;
  readonly #maxTensorBytes: number;
  #second = Number.NaN;
  #secondPrefix = '';
  #sequence = 0;

  constructor(source: string, maxTensorBytes: number) {
    this.#sourceJson = asciiJson(source);
    this.#maxTensorBytes = maxTensorBytes;
  }

  /** The record of `event`; `id` defaults to the request id (or "request") and a sequence number. */
  write(event: RawEvent, id?: string): string {
    const requestJson = event.requestId ? asciiJson(event.requestId) : '';
    let idJson: string;
    if (id !== undefined) idJson = asciiJson(id);
    else {
      this.#sequence = (this.#sequence + 1) % Number.MAX_SAFE_INTEGER;
      // The request id's JSON with the sequence number inside its closing quote.
      idJson = requestJson ? `${requestJson.slice(0, -1)}-${this.#sequence}"` : `"request-${this.#sequence}"`;
    }
    let data =
      `{"model":${event.modelJson},"version":${event.versionJson},"arm":${event.armJson},"protocol":${event.protocolJson},` +
      `"outcome":${event.outcomeJson},"latency_ms":${latencyJson(event.latencyMs)},"inputs":${this.#tensors(event.inputs)}`;
    if (requestJson) data += `,"request_id":${requestJson}`;
    if (event.traceId) data += `,"trace_id":${asciiJson(event.traceId)}`;
    if (event.outputs) data += `,"outputs":${this.#tensors(event.outputs)}`;
    if (event.error) data += `,"error":${asciiJson(event.error)}`;
    return (
      `{"specversion":"1.0","id":${idJson},"source":${this.#sourceJson},"type":"${EVENT_TYPE}",` +
      `"time":"${this.#time(event.timeMs)}","datacontenttype":"application/json","data":${data}}}`
    );
  }

  /** toISOString(), with the part up to the second reused. */
  #time(ms: number): string {
    const second = Math.floor(ms / 1000);
    if (second !== this.#second) {
      const iso = new Date(second * 1000).toISOString();
      // Years outside 0000–9999 have a longer form: no shortcut for those.
      if (iso.length !== 24) return new Date(ms).toISOString();
      this.#second = second;
      this.#secondPrefix = iso.slice(0, 20);
    }
    return `${this.#secondPrefix}${String(ms - second * 1000).padStart(3, '0')}Z`;
  }

  #tensors(tensors: readonly RawTensor[]): string {
    let text = '[';
    for (let i = 0; i < tensors.length; i++) {
      const { nameJson, datatypeJson, shape, bytes, start, end } = tensors[i]!;
      let dims = '';
      for (let d = 0; d < shape.length; d++) dims += (d > 0 ? ',' : '') + jsonNumber(shape[d]!);
      text += `${i > 0 ? ',' : ''}{"name":${nameJson},"datatype":${datatypeJson},"shape":[${dims}]`;
      // base64 straight from the ring: no view per tensor.
      if (end - start <= this.#maxTensorBytes) text += `,"data_base64":"${bytes.toString('base64', start, end)}"}`;
      else text += `,"byte_size":${end - start},"sha256":"${sha256Hex(bytes.subarray(start, end))}"}`;
    }
    return `${text}]`;
  }
}
