/**
 * The OpenAPI description of the V2 / Triton routes: request bodies, answers and the status codes
 * each route really returns (KServe's inference_rest.md and open_inference_rest.yaml, Triton's
 * http_server.cc). These schemas are documentation only. The V2 routes take raw Buffer bodies and
 * decode them with their own BigInt-aware JSON and binary-tensor decoders, so nothing here is
 * compiled into a validator or a serializer: v2-routes.ts hands them to @fastify/swagger through
 * each route's swaggerTransform, and the infer path (served ahead of fastify by
 * infer-fast-path.ts) never sees them.
 */
import { Type } from 'typebox';
import { DATATYPES } from '../../core/index.js';
import { OPTIONAL_BODY } from './openapi.js';

/** The version pattern of model-paths.ts: Triton's `[0-9]+` or a registry alias. */
export const VERSION_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';

/** A named schema: a component of the OpenAPI document, referred to by Type.Ref(name). */
const named = <T extends object>(name: string, schema: T): T => ({ ...schema, $id: name });

const errorBody = (description: string) => Type.Object({ error: Type.String() }, { description });

/** When each failure status is answered on the V2 routes. */
const FAILURES = {
  400: errorBody("Invalid request: unknown model (Triton answers 400 for it: \"Request for unknown model: '<name>' is not found\"), a version string that is not > 0, a malformed body or parameter, inputs that do not match the model's signature"),
  404: errorBody('No such version or alias of a known model, the model has no available version, or the path does not exist'),
  413: errorBody('The body (after decompression) or a tensor exceeds a limit; the message names the limit'),
  414: errorBody('A path parameter (model name or version) is longer than 1024 characters'),
  415: errorBody('Unsupported Content-Encoding: send gzip, deflate or identity'),
  501: errorBody('Repository control is off: the server was not started with --model-control-mode explicit'),
  500: errorBody('The model failed while running on these inputs, or its files could not be loaded (the runtime\'s message)'),
  503: errorBody('The version is not ready, its queue is full, the request timed out in the queue, or the server is stopping'),
};
type FailureStatus = keyof typeof FAILURES;

function failures(...statuses: FailureStatus[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, FAILURES[status]]));
}

// ---------------------------------------------------------------------------------------------
// Components

const Parameters = named('InferParameters', Type.Object({}, {
  additionalProperties: Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
  description: 'Parameters: string, number or boolean values. Reserved request keys (Triton): sequence_id, sequence_start, sequence_end, priority, timeout (µs), binary_data_output; keys starting with "triton_" are refused.',
}));

const Datatype = Type.Enum([...DATATYPES], { description: 'V2 tensor datatype' });

/** `$tensor_data`: flat, or nested in the tensor's shape (at most 100 levels, as in Triton). */
const TensorData = named('TensorData', {
  type: 'array',
  description: 'Elements in row-major order, flat or nested in the shape. Numbers for numeric datatypes (INT64/UINT64 exact beyond 2^53), true/false for BOOL, strings for BYTES; FP16 and BF16 only travel binary.',
  items: { anyOf: [{ type: 'number' }, { type: 'boolean' }, { type: 'string' }, { $ref: 'TensorData' }] },
});

const InferInput = named('InferInput', Type.Object({
  name: Type.String(),
  shape: Type.Array(Type.Integer({ minimum: 0 }), { description: 'Full shape, batch dimension included' }),
  datatype: Datatype,
  parameters: Type.Optional(Type.Ref('InferParameters', { description: 'binary_data_size: bytes of this input in the binary section (instead of data)' })),
  data: Type.Optional(Type.Ref('TensorData')),
}, { description: "One input: exactly one of 'data' and parameters.binary_data_size" }));

const InferRequestedOutput = named('InferRequestedOutput', Type.Object({
  name: Type.String(),
  parameters: Type.Optional(Type.Ref('InferParameters', { description: 'binary_data: true returns this output in the binary section' })),
}));

const InferRequest = named('InferRequest', Type.Object({
  id: Type.Optional(Type.String({ description: 'Echoed in the answer' })),
  parameters: Type.Optional(Type.Ref('InferParameters')),
  inputs: Type.Array(Type.Ref('InferInput')),
  outputs: Type.Optional(Type.Array(Type.Ref('InferRequestedOutput'), { description: 'Outputs to return (default: all)' })),
}));

const InferOutput = named('InferOutput', Type.Object({
  name: Type.String(),
  shape: Type.Array(Type.Integer({ minimum: 0 })),
  datatype: Datatype,
  parameters: Type.Optional(Type.Object({ binary_data_size: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: true })),
  data: Type.Optional(Type.Array(Type.Union([Type.Number(), Type.Boolean(), Type.String(), Type.Null()]), {
    description: 'Flat, row-major; a NaN or infinite float is null (JSON has no such numbers)',
  })),
}, { description: "One output: 'data', or parameters.binary_data_size when it is in the binary section" }));

const InferResponse = named('InferResponse', Type.Object({
  id: Type.Optional(Type.String({ description: "The request's id, when it had one" })),
  model_name: Type.String(),
  model_version: Type.String(),
  parameters: Type.Optional(Type.Ref('InferParameters')),
  outputs: Type.Array(Type.Ref('InferOutput')),
}));

const ServerMetadata = named('ServerMetadata', Type.Object({
  name: Type.String(),
  version: Type.String(),
  extensions: Type.Array(Type.String(), { description: 'Triton extensions the server implements' }),
}));

const TensorMetadata = named('TensorMetadata', Type.Object({
  name: Type.String(),
  datatype: Datatype,
  shape: Type.Array(Type.Integer({ minimum: -1 }), { description: '-1 where any size is accepted; a leading -1 batch dimension when the model batches' }),
}));

const ModelMetadata = named('ModelMetadata', Type.Object({
  name: Type.String(),
  versions: Type.Array(Type.String(), { description: 'The READY versions (or the one asked for)' }),
  platform: Type.String(),
  inputs: Type.Array(Type.Ref('TensorMetadata')),
  outputs: Type.Array(Type.Ref('TensorMetadata')),
}));

const TensorConfig = Type.Object({
  name: Type.String(),
  data_type: Type.String({ description: 'TYPE_FP32, TYPE_STRING…' }),
  dims: Type.Array(Type.Integer({ minimum: -1 }), { description: 'Without the batch dimension when max_batch_size > 0' }),
}, { additionalProperties: true });

const ModelConfig = named('ModelConfig', Type.Object({
  name: Type.String(),
  platform: Type.Optional(Type.String()),
  backend: Type.Optional(Type.String()),
  max_batch_size: Type.Integer({ minimum: 0 }),
  input: Type.Array(TensorConfig),
  output: Type.Array(TensorConfig),
}, { additionalProperties: true, description: "Triton's ModelConfig as JSON: snake_case keys, enums by name, int64 as numbers" }));

const DurationStat = named('DurationStat', Type.Object({ count: Type.Integer({ minimum: 0 }), ns: Type.Integer({ minimum: 0 }) }, { description: 'Cumulative, nanoseconds' }));
const duration = Type.Ref('DurationStat');

const ModelStatistics = named('ModelStatistics', Type.Object({
  model_stats: Type.Array(Type.Object({
    name: Type.String(),
    version: Type.String(),
    last_inference: Type.Integer({ minimum: 0, description: 'Milliseconds since the epoch' }),
    inference_count: Type.Integer({ minimum: 0 }),
    execution_count: Type.Integer({ minimum: 0 }),
    inference_stats: Type.Object({
      success: duration,
      fail: duration,
      queue: duration,
      compute_input: duration,
      compute_infer: duration,
      compute_output: duration,
      cache_hit: duration,
      cache_miss: duration,
    }),
    response_stats: Type.Object({}, { additionalProperties: true }),
    batch_stats: Type.Array(Type.Object({ batch_size: Type.Integer({ minimum: 1 }), compute_input: duration, compute_infer: duration, compute_output: duration })),
    memory_usage: Type.Array(Type.Object({}, { additionalProperties: true })),
  })),
}));

const RepositoryIndex = named('RepositoryIndex', Type.Array(Type.Object({
  name: Type.String(),
  version: Type.Optional(Type.String()),
  state: Type.Enum(['UNKNOWN', 'READY', 'UNAVAILABLE', 'LOADING', 'UNLOADING']),
  reason: Type.Optional(Type.String()),
})));

/** Every named schema, for addSchema on the server (the OpenAPI document's components). */
export const V2_COMPONENTS = [
  Parameters, TensorData, InferInput, InferRequestedOutput, InferRequest, InferOutput, InferResponse,
  ServerMetadata, TensorMetadata, ModelMetadata, ModelConfig, DurationStat, ModelStatistics, RepositoryIndex,
];

// ---------------------------------------------------------------------------------------------
// Route documents

/** A route's document for @fastify/swagger: what `schema` would hold, never validated. */
export type RouteDoc = Record<string, unknown>;

const empty = (description: string) => Type.Null({ description });
const json = (name: string, description: string) => Type.Ref(name, { description });

/** The `{name}` of a model; `/v2/models/stats` is its own route, so the bare metadata path cannot name it. */
const modelName = (exceptStats: boolean) => Type.String({
  minLength: 1,
  description: 'Model name',
  ...(exceptStats ? { not: { enum: ['stats'] } } : {}),
  examples: ['mlp'],
});
const versionParam = Type.String({ pattern: VERSION_PATTERN, description: 'A version number (> 0) or a registry alias; anything else is 404', examples: ['1'] });

/** Both forms of a per-model route's path parameters. */
function modelParams(versioned: boolean, exceptStats = false) {
  return versioned ? Type.Object({ name: modelName(false), version: versionParam }) : Type.Object({ name: modelName(exceptStats) });
}

export const HEALTH_LIVE: RouteDoc = {
  tags: ['health'],
  summary: 'Server live: the process can serve requests (liveness probe)',
  response: { 200: empty('Live (empty body)'), 400: empty('Not live (empty body)') },
};

export const HEALTH_READY: RouteDoc = {
  tags: ['health'],
  summary: 'Server ready: every model it should serve is READY (readiness probe)',
  response: { 200: empty('Ready (empty body)'), 400: empty('Not ready (empty body)') },
};

export const SERVER_METADATA: RouteDoc = {
  tags: ['metadata'],
  summary: 'Server metadata: name, version and the extensions it implements',
  response: { 200: json('ServerMetadata', 'The server') },
};

export const ALL_STATISTICS: RouteDoc = {
  tags: ['metadata'],
  summary: 'Statistics of every loaded model version (Triton statistics extension)',
  response: { 200: json('ModelStatistics', 'Statistics per model version') },
};

export function modelMetadata(versioned: boolean): RouteDoc {
  return {
    tags: ['metadata'],
    summary: versioned ? 'Metadata of one model version' : 'Metadata of a model: its READY versions and the signature of the latest',
    params: modelParams(versioned, true),
    response: { 200: json('ModelMetadata', 'The model'), ...failures(400, 404, 414) },
  };
}

export function modelReady(versioned: boolean): RouteDoc {
  return {
    tags: ['health'],
    summary: versioned ? 'Whether this version is READY' : 'Whether the model has a READY version',
    params: modelParams(versioned),
    response: {
      200: empty('Ready (empty body)'),
      400: errorBody('Not ready ("Model version not ready"), unknown model, or a version string that is not > 0'),
      ...failures(404, 414),
    },
  };
}

export function modelConfig(versioned: boolean): RouteDoc {
  return {
    tags: ['metadata'],
    summary: versioned ? 'Configuration of one model version (Triton model configuration extension)' : "Configuration of the model's highest version",
    params: modelParams(versioned),
    response: { 200: json('ModelConfig', 'The configuration itself, not wrapped'), ...failures(400, 404, 414) },
  };
}

export function modelStatistics(versioned: boolean): RouteDoc {
  return {
    tags: ['metadata'],
    summary: versioned ? 'Statistics of one model version' : 'Statistics of every version of a model',
    params: modelParams(versioned),
    response: { 200: json('ModelStatistics', 'Statistics per version'), ...failures(400, 404, 414) },
  };
}

const binaryBody = {
  type: 'string',
  format: 'binary',
  description:
    'Binary tensor data extension: the JSON request (InferRequest) in the first Inference-Header-Content-Length bytes, then the bytes of every input ' +
    'that sets parameters.binary_data_size, in input order (little-endian; BYTES elements as a 4-byte length and the bytes). ' +
    'With Inference-Header-Content-Length: 0 the whole body is the raw data of a single-input model.',
};

export function infer(versioned: boolean): RouteDoc {
  return {
    tags: ['inference'],
    summary: versioned ? 'Run inference on one version (or alias)' : 'Run inference on the version routing picks (the latest READY one without a registry routing)',
    description:
      'The body is read and decoded by the server itself, whatever its Content-Type: JSON with 64-bit integers kept exact, optionally followed by a binary section ' +
      '(Inference-Header-Content-Length). Content-Encoding gzip or deflate is accepted. An answer with binary outputs is application/octet-stream: its JSON header ' +
      '(Inference-Header-Content-Length bytes) is followed by the outputs that asked for binary_data, in order.',
    params: modelParams(versioned),
    headers: Type.Object({
      'inference-header-content-length': Type.Optional(Type.Integer({ minimum: 0, description: 'Bytes of JSON at the start of the body; absent: the whole body is JSON' })),
    }),
    body: {
      content: {
        'application/json': { schema: Type.Ref('InferRequest') },
        'application/octet-stream': { schema: binaryBody },
      },
    },
    response: {
      200: {
        description: 'The outputs',
        headers: {
          'inference-header-content-length': { type: 'integer', minimum: 0, description: 'Bytes of the JSON header, when outputs follow in binary' },
          'x-modelport-arm': { type: 'string', description: 'The routing arm that answered: stable, canary, direct, alias:<name>…' },
        },
        content: {
          'application/json': { schema: Type.Ref('InferResponse') },
          'application/octet-stream': { schema: { type: 'string', format: 'binary', description: 'InferResponse JSON header, then the binary outputs' } },
        },
      },
      ...failures(400, 404, 413, 414, 415, 500, 503),
    },
  };
}

export const REPOSITORY_INDEX: RouteDoc = {
  tags: ['repository'],
  [OPTIONAL_BODY]: true,
  summary: 'Every model (version) of the repository with its state',
  body: Type.Object({ ready: Type.Optional(Type.Boolean({ description: 'Only READY versions (default false)' })) }, { description: 'Optional' }),
  response: { 200: json('RepositoryIndex', 'Models and versions'), ...failures(400, 415) },
};

export const REPOSITORY_LOAD: RouteDoc = {
  tags: ['repository'],
  [OPTIONAL_BODY]: true,
  summary: 'Load (or reload) a model (explicit model control)',
  params: Type.Object({ name: modelName(false) }),
  body: Type.Object({
    parameters: Type.Optional(Type.Object({
      config: Type.Optional(Type.String({ description: 'A model configuration as JSON text, used instead of the one on disk' })),
    }, { additionalProperties: true })),
  }, { description: 'Optional' }),
  response: { 200: empty('Loaded (empty body)'), ...failures(400, 404, 414, 415, 500, 501, 503) },
};

export const REPOSITORY_UNLOAD: RouteDoc = {
  tags: ['repository'],
  [OPTIONAL_BODY]: true,
  summary: 'Unload a model (explicit model control)',
  params: Type.Object({ name: modelName(false) }),
  body: Type.Object({
    parameters: Type.Optional(Type.Object({ unload_dependents: Type.Optional(Type.Boolean()) }, { additionalProperties: true })),
  }, { description: 'Optional' }),
  response: { 200: empty('Unloaded (empty body)'), ...failures(400, 404, 414, 415, 501) },
};
