/**
 * The messages of proto/grpc_service.proto as handlers see them after decoding (see
 * proto-definitions.ts: snake_case, 64-bit integers as decimal strings, unset messages null) and
 * as they hand them back for encoding (numbers, bigints or strings all encode).
 */

export interface InferParameterMessage {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: string | number;
  string_param?: string;
  double_param?: number;
  uint64_param?: string | number;
}

export type ParameterMap = Record<string, InferParameterMessage>;

export interface TensorContentsMessage {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: string[];
  uint_contents: number[];
  uint64_contents: string[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Uint8Array[];
}

export interface InferInputTensorMessage {
  name: string;
  datatype: string;
  shape: string[];
  parameters: ParameterMap;
  contents: TensorContentsMessage | null;
}

export interface RequestedOutputMessage {
  name: string;
  parameters: ParameterMap;
}

export interface ModelInferRequestMessage {
  model_name: string;
  model_version: string;
  id: string;
  parameters: ParameterMap;
  inputs: InferInputTensorMessage[];
  outputs: RequestedOutputMessage[];
  raw_input_contents: Buffer[];
}

export interface InferOutputTensorMessage {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: ParameterMap;
}

export interface ModelInferResponseMessage {
  model_name: string;
  model_version: string;
  id?: string;
  parameters?: ParameterMap;
  outputs: InferOutputTensorMessage[];
  raw_output_contents: Uint8Array[];
}

export interface ModelStreamInferResponseMessage {
  error_message?: string;
  infer_response?: ModelInferResponseMessage;
}

export interface NameVersionMessage {
  name: string;
  version: string;
}

export interface RepositoryParameterMessage {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'bytes_param';
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  bytes_param?: Buffer;
}

export interface RepositoryModelMessage {
  repository_name: string;
  model_name: string;
  parameters: Record<string, RepositoryParameterMessage>;
}

export interface RepositoryIndexRequestMessage {
  repository_name: string;
  ready: boolean;
}
