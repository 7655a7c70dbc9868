/** Opt-in, sampled, non-blocking logging of inference payloads to files and webhooks, on a thread of its own. */
export { PayloadLogger, type PayloadLoggerOptions, type SinkCounts } from './payload-logger.js';
export { RotatingFileSink, WebhookSink, moduleSink, type PayloadSink, type SinkDescriptor, type SinkSpec, type WebhookOptions } from './payload-sinks.js';
export { toCloudEvent, type CloudEvent, type PayloadEvent, type RequestRecord, type TensorRecord } from './payload-event.js';
