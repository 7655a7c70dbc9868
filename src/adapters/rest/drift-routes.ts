/**
 * The drift report over HTTP: `GET /v1/drift` lists every watched model, `GET /v1/models/{model}/drift`
 * one model — its phase (building a baseline or monitoring), the reference, and per version the
 * latest window's verdict with per-feature statistics. Registered as a plugin so that, when the
 * management API is on, the OpenAPI document lists these routes too.
 */
import type { FastifyInstance } from 'fastify';
import { mpError } from '../../core/index.js';
import type { DriftModelStatus } from '../../monitoring/index.js';

export interface DriftStatusSource {
  status(model?: string): DriftModelStatus[];
}

const report = { type: 'object', additionalProperties: true } as const;
const errorBody = (description: string) => ({ type: 'object', properties: { error: { type: 'string' } }, required: ['error'], description });

export function registerDriftRoutes(app: FastifyInstance, drift: DriftStatusSource): void {
  void app.register(
    async (scope) => {
      scope.get('/drift', { schema: { tags: ['drift'], summary: 'Drift status of every watched model', response: { 200: { type: 'array', items: report } } } }, async (_request, reply) => {
        reply.header('content-type', 'application/json').send(JSON.stringify(drift.status()));
      });
      scope.get(
        '/models/:model/drift',
        {
          schema: {
            tags: ['drift'],
            summary: 'Drift status of one model: reference, windows and the latest per-feature report of each version',
            params: { type: 'object', properties: { model: { type: 'string' } }, required: ['model'] },
            querystring: { type: 'object', properties: { version: { type: 'string' } }, additionalProperties: false },
            response: { 200: report, 404: errorBody('The model is not watched for drift'), 414: errorBody('The model name is longer than 1024 characters') },
          },
        },
        async (request, reply) => {
          const { model } = request.params as { model: string };
          const { version } = request.query as { version?: string };
          const status = drift.status(model)[0];
          if (!status) throw mpError('MP_ERR_DRIFT_NOT_WATCHED', `model '${model}' is not watched for drift; start the server with --drift-profile ${model}=FILE or --drift-baseline ${model}=ROWS`);
          const body = version === undefined ? status : { ...status, versions: status.versions.filter((v) => v.version === version) };
          reply.header('content-type', 'application/json').send(JSON.stringify(body));
        },
      );
    },
    { prefix: '/v1' },
  );
}
