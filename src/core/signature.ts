/**
 * A model's input/output signature as read from the model file itself, before any configuration:
 * names, datatypes and full shapes (-1 where a dimension is dynamic). The repository completes
 * configurations from it and checks configurations against it.
 */
import type { Datatype } from './datatypes.js';

export interface TensorSpec {
  name: string;
  datatype: Datatype;
  /** Full shape as the model declares it, batch dimension included; -1 = dynamic. */
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}
