/**
 * A small client of inference.GRPCInferenceService for the CLI (`--grpc`) and tools: one method,
 * `call`, that sends a request message and resolves with the decoded response (field names and
 * conversions as in proto-definitions.ts). A failed call rejects with an Error whose message names
 * the RPC, the status and the server's details.
 */
import { credentials, loadPackageDefinition, Metadata, status as Status, type Client, type ServiceError } from '@grpc/grpc-js';
import { packageDefinition } from './proto-definitions.js';

type ClientConstructor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options: object) => Client;
type UnaryMethod = (request: object, metadata: Metadata, callback: (error: ServiceError | null, response: unknown) => void) => void;

export class GrpcInferenceClient {
  readonly #client: Client;
  readonly #token: string | undefined;

  /** `token`: an API key or JWT sent as `authorization: Bearer …` metadata. */
  constructor(address: string, token?: string) {
    this.#token = token;
    const loaded = loadPackageDefinition(packageDefinition()) as unknown as { inference: { GRPCInferenceService: ClientConstructor } };
    this.#client = new loaded.inference.GRPCInferenceService(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
    });
  }

  call<T>(method: string, request: object = {}): Promise<T> {
    const rpc = (this.#client as unknown as Record<string, UnaryMethod | undefined>)[method];
    if (typeof rpc !== 'function') return Promise.reject(new Error(`unknown RPC ${method}`));
    const metadata = new Metadata();
    if (this.#token) metadata.set('authorization', `Bearer ${this.#token}`);
    return new Promise((resolve, reject) => {
      rpc.call(this.#client, request, metadata, (error, response) => {
        if (error) {
          const address = this.#client.getChannel().getTarget();
          reject(new Error(`${method} to ${address} failed with ${Status[error.code] ?? error.code}: ${error.details}`));
        } else {
          resolve(response as T);
        }
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}
