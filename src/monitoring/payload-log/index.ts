/** Opt-in, sampled, non-blocking logging of inference payloads to files and webhooks. */
export { PayloadLogger, type PayloadLoggerOptions, type SinkCounts } from './payload-logger.js';
export { RotatingFileSink, WebhookSink, type PayloadSink, type WebhookOptions } from './payload-sinks.js';
export { toCloudEvent, type CloudEvent, type PayloadEvent, type RequestRecord, type TensorRecord } from './payload-event.js';
