/**
 * Batch jobs over HTTP (the server must run with --data-root): `POST /v1/jobs` creates a job over
 * files under the data root, `GET /v1/jobs` and `GET /v1/jobs/{id}` report state and progress,
 * `POST /v1/jobs/{id}/cancel` cancels, and `POST /v1/jobs/uploads?format=csv` stores a file sent
 * as the raw body (streamed; application/octet-stream, though any Content-Type is taken) and
 * answers the path to name as a job's input. Each route is a thin translation to one JobsApi call.
 *
 * Like the management routes, these live in an encapsulated scope: JSON bodies are parsed (the V2
 * routes take raw Buffers), checked against TypeBox schemas with messages that name the field
 * (snake_case on the wire, as the other /v1 request bodies), and the upload's body is the request
 * stream itself. Registered after the management routes, they appear in the OpenAPI document.
 * Errors take the server's one error path: `{"error": "..."}` with the status from error-status.ts.
 */
import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { mpError } from '../../core/index.js';
import type { DataFormat, JobRecord, JobRequest } from '../../jobs/index.js';
import { HttpError } from './http-error.js';
import { jsonApiScope } from './management-routes.js';
import { withUploadBody } from './upload-body.js';

/** What the routes need of the server's jobs; src/jobs' JobManager is one. */
export interface JobsApi {
  create(request: JobRequest): Promise<JobRecord>;
  list(): JobRecord[];
  get(id: string): JobRecord;
  cancel(id: string): Promise<JobRecord>;
  upload(body: Readable, options: { format: DataFormat }): Promise<{ path: string }>;
}

/** Streamed uploads are limited by the jobs service itself; fastify's body limit must not cut in first. */
const UPLOAD_BODY_LIMIT = 64 * 1024 ** 3;

const Format = Type.Union([Type.Literal('jsonl'), Type.Literal('csv'), Type.Literal('parquet')]);

const CreateBody = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    version: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })], { description: 'Default: the highest READY version' })),
    input: Type.String({ minLength: 1, description: 'Input file, relative to the data root (an upload answers one)' }),
    output: Type.String({ minLength: 1, description: 'Output file, relative to the data root; refused rows go to <output>.errors.jsonl' }),
    format: Type.Optional(Format),
    output_format: Type.Optional(Format),
    map: Type.Optional(
      Type.Object({}, { additionalProperties: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), description: 'Model input → the fields or columns making up its values, in order' }),
    ),
    batch_size: Type.Optional(Type.Integer({ minimum: 1, description: "Rows per inference request (default: the model's max_batch_size)" })),
    id_column: Type.Optional(Type.String({ minLength: 1, description: 'Field or column holding each row id (default: the row index)' })),
    partition_rows: Type.Optional(Type.Integer({ minimum: 1, description: 'Rows per partition, the unit a resumed job keeps (default 10000)' })),
  },
  { additionalProperties: false },
);

const Progress = Type.Object({
  rowsDone: Type.Integer(),
  rowsFailed: Type.Integer(),
  rowsTotal: Type.Optional(Type.Integer({ description: 'Known once the input was scanned' })),
  partitionsDone: Type.Integer(),
  partitionsTotal: Type.Optional(Type.Integer()),
  elapsedMs: Type.Number(),
});

// Documentation only: the scope serialises with JSON.stringify, so a field added to the record
// later is never dropped on the wire.
const Job = Type.Object(
  {
    id: Type.String(),
    state: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')]),
    spec: Type.Object({}, { additionalProperties: true, description: 'The job as created (camelCase keys), paths relative to the data root' }),
    progress: Progress,
    summary: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'Rows in, out and failed, throughput, output and errors files' })),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
    createdAt: Type.String(),
    startedAt: Type.Union([Type.String(), Type.Null()]),
    endedAt: Type.Union([Type.String(), Type.Null()]),
    runs: Type.Integer({ description: 'Times started: above 1 after a restart resumed the job' }),
  },
  { description: 'A batch job' },
);

const IdParams = Type.Object({ id: Type.String() });
const UploadQuery = Type.Object({ format: Format }, { additionalProperties: false });
const UploadBodyDoc = {
  content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary', description: 'The input file, as it is' } } },
} as const;

const errorBody = (description: string) => Type.Object({ error: Type.String() }, { description });
const FAILURES = {
  400: errorBody('The request is invalid: a field, a path outside the data root, an unknown model'),
  404: errorBody('No such job'),
  414: errorBody('The job id is longer than 1024 characters'),
  409: errorBody('The job has already ended, or another job writes that output'),
  413: errorBody('The upload exceeds the size limit'),
};

export function registerJobRoutes(app: FastifyInstance, jobs: JobsApi): void {
  void app.register(
    async (scope) => {
      jsonApiScope(scope);
      const r = scope.withTypeProvider<TypeBoxTypeProvider>();

      r.post('/jobs', {
        schema: {
          tags: ['jobs'],
          summary: 'Create a batch job over files under the data root',
          description: 'The job is queued and runs in the background, at a lower priority than online requests. Poll GET /v1/jobs/{id} for its progress.',
          body: CreateBody,
          response: { 201: Job, 400: FAILURES[400], 404: errorBody('The model has no such version or alias'), 409: FAILURES[409] },
        },
      }, async (request, reply) => {
        reply.code(201).send(await jobs.create(toJobRequest(request.body)));
      });

      r.get('/jobs', {
        schema: { tags: ['jobs'], summary: 'Every batch job, newest first', response: { 200: Type.Array(Job) } },
      }, () => jobs.list());

      r.get('/jobs/:id', {
        schema: { tags: ['jobs'], summary: "A batch job's state and progress", params: IdParams, response: { 200: Job, 404: FAILURES[404], 414: FAILURES[414] } },
      }, (request) => jobs.get(request.params.id));

      r.post('/jobs/:id/cancel', {
        schema: {
          tags: ['jobs'],
          summary: 'Cancel a queued or running batch job',
          description: 'Answers once the job has stopped (batches in flight finish first); its partial results are removed.',
          params: IdParams,
          response: { 200: Job, 404: FAILURES[404], 409: FAILURES[409], 414: FAILURES[414] },
        },
      }, (request) => jobs.cancel(request.params.id));

      // The upload's own scope: the only route whose body is the raw request stream.
      void scope.register(async (upload) => {
        upload.removeAllContentTypeParsers();
        // Any Content-Type: the format is in the query, and `curl --data-binary @file.csv` sends
        // application/x-www-form-urlencoded unless told otherwise.
        upload.addContentTypeParser('*', (request, payload, done) => {
          const coding = request.headers['content-encoding'];
          if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
            done(new HttpError(415, `unsupported Content-Encoding '${coding}' for an upload: send the file as it is`));
            return;
          }
          done(null, payload);
        });
        upload.withTypeProvider<TypeBoxTypeProvider>().post('/jobs/uploads', {
          bodyLimit: UPLOAD_BODY_LIMIT,
          schema: {
            tags: ['jobs'],
            summary: 'Upload an input file for batch jobs',
            description: 'The body is the file (application/octet-stream), streamed to uploads/<uuid>.<format> under the data root. Name the answered path as a job\'s input.',
            querystring: UploadQuery,
            response: { 201: Type.Object({ path: Type.String({ description: 'Relative to the data root' }) }), 400: FAILURES[400], 413: FAILURES[413] },
          },
          config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: UploadBodyDoc }, url }) },
        }, async (request, reply) => {
          const raw = request.body;
          if (!(raw instanceof Readable)) throw mpError('MP_ERR_REQUEST_MALFORMED', 'the request body must be the file (application/octet-stream)');
          reply.code(201).send(await withUploadBody(raw, (body) => jobs.upload(body, { format: request.query.format })));
        });
      });
    },
    { prefix: '/v1' },
  );
}

/** The wire's snake_case body → the jobs service's request. */
function toJobRequest(body: Static<typeof CreateBody>): JobRequest {
  const request: JobRequest = { model: body.model, input: body.input, output: body.output };
  if (body.version !== undefined) request.version = String(body.version);
  if (body.format !== undefined) request.format = body.format;
  if (body.output_format !== undefined) request.outputFormat = body.output_format;
  if (body.map !== undefined) request.map = body.map as Record<string, string[]>;
  if (body.batch_size !== undefined) request.batchSize = body.batch_size;
  if (body.id_column !== undefined) request.idColumn = body.id_column;
  if (body.partition_rows !== undefined) request.partitionRows = body.partition_rows;
  return request;
}
