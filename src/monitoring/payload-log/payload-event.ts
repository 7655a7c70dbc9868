/**
 * One logged inference as a CloudEvents 1.0 record (structured JSON mode): the request's inputs
 * and the response's outputs with their datatypes and shapes, latency and outcome. Tensor data
 * travels as base64 of its raw little-endian bytes — exact for every datatype and ~20× cheaper to
 * produce than JSON numbers — and tensors over a size limit are summarised by a sha256 digest.
 * This module holds what the data plane hands over and the record as an object; the logging
 * thread writes the same record as text (payload-record.ts).
 */
import { byteSize, isBytesData, writeBinaryTensorData, type Tensor } from '../../core/index.js';
import { EVENT_TYPE, sha256Hex } from './payload-record.js';

/** What is known of one finished inference request: the request log line, and the core of a payload record. */
export interface RequestRecord {
  requestId?: string;
  traceId?: string;
  model: string;
  version: string;
  arm: string;
  protocol: string;
  /** "ok" or the error code. */
  outcome: string;
  latencyMs: number;
  queueMs?: number;
  batchSize?: number;
  error?: string;
}

/** What the data plane hands over; turned into a record off the request path. */
export interface PayloadEvent extends RequestRecord {
  time: Date;
  inputs: readonly Tensor[];
  outputs?: readonly Tensor[];
}

export interface TensorRecord {
  name: string;
  datatype: string;
  shape: number[];
  /** Raw little-endian bytes (BYTES elements length-prefixed), when within the size limit. */
  data_base64?: string;
  /** Above the limit: size and digest instead of the data. */
  byte_size?: number;
  sha256?: string;
}

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: typeof EVENT_TYPE;
  time: string;
  datacontenttype: 'application/json';
  data: {
    request_id?: string;
    trace_id?: string;
    model: string;
    version: string;
    arm: string;
    protocol: string;
    outcome: string;
    latency_ms: number;
    inputs: TensorRecord[];
    outputs?: TensorRecord[];
    error?: string;
  };
}

/** A tensor's raw little-endian bytes: a view for fixed-size datatypes, length-prefixed elements for BYTES. */
export function rawBytes(tensor: Tensor): Uint8Array {
  const data = tensor.data;
  if (!isBytesData(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const buffer = Buffer.allocUnsafe(byteSize(tensor));
  writeBinaryTensorData(data, buffer, 0);
  return buffer;
}

function record(tensor: Tensor, maxTensorBytes: number): TensorRecord {
  const bytes = rawBytes(tensor);
  const result: TensorRecord = { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape };
  if (bytes.byteLength <= maxTensorBytes) result.data_base64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  else {
    result.byte_size = bytes.byteLength;
    result.sha256 = sha256Hex(bytes);
  }
  return result;
}

let sequence = 0;

/** Unique within the process: the request id (when the client sent one) and a sequence number. */
function nextEventId(requestId: string | undefined): string {
  sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER;
  return `${requestId || 'request'}-${sequence}`;
}

/** The record of `event` as an object; `id` defaults to a fresh one. */
export function toCloudEvent(event: PayloadEvent, source: string, maxTensorBytes: number, id = nextEventId(event.requestId)): CloudEvent {
  const data: CloudEvent['data'] = {
    model: event.model,
    version: event.version,
    arm: event.arm,
    protocol: event.protocol,
    outcome: event.outcome,
    latency_ms: event.latencyMs,
    inputs: event.inputs.map((t) => record(t, maxTensorBytes)),
  };
  if (event.requestId) data.request_id = event.requestId;
  if (event.traceId) data.trace_id = event.traceId;
  if (event.outputs) data.outputs = event.outputs.map((t) => record(t, maxTensorBytes));
  if (event.error) data.error = event.error;
  return {
    specversion: '1.0',
    id,
    source,
    type: EVENT_TYPE,
    time: event.time.toISOString(),
    datacontenttype: 'application/json',
    data,
  };
}

/** Bytes an event holds on to while queued (its tensors), for the queue's memory bound. */
export function heldBytes(event: PayloadEvent): number {
  let total = 0;
  for (const t of event.inputs) total += byteSize(t);
  if (event.outputs) for (const t of event.outputs) total += byteSize(t);
  return total;
}
