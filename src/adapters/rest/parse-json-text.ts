/**
 * Parses the JSON of a request (an inference header, a load or index body) so that 64-bit
 * integers survive: JSON.parse turns 9007199254740993 into ...992, which silently corrupts INT64
 * and UINT64 tensors and sequence ids. The fast native parser handles every document that has no
 * integer literal of 16 digits or more (2^53 has 16); only the rare document that does is parsed
 * again, slower, with lossless-json, turning each unsafe integer into a BigInt. Floats keep their
 * long fraction digits on the fast path because a fraction is not an integer literal.
 */
import { parse as parseLossless } from 'lossless-json';
import { mpError } from '../../core/index.js';

/**
 * An integer literal with 16+ digits: it starts after a JSON delimiter (so not inside a fraction)
 * and is not followed by a fraction or an exponent. A match inside a string only costs a slower
 * parse, never a wrong value.
 */
const LONG_INTEGER = /[[,:\s-]\d{16,}(?![\d.eE])/;
const INTEGER_TEXT = /^-?\d+$/;

export function parseJsonText(text: string): unknown {
  try {
    if (!LONG_INTEGER.test(text)) return JSON.parse(text);
    return parseLossless(text, null, { parseNumber, onDuplicateKey: lastValueWins });
  } catch (error) {
    throw mpError('MP_ERR_REQUEST_MALFORMED', `failed to parse the request JSON buffer: ${(error as Error).message}`, error);
  }
}

function parseNumber(text: string): number | bigint {
  const value = Number(text);
  if (Number.isSafeInteger(value) || !INTEGER_TEXT.test(text)) return value;
  return BigInt(text);
}

/** JSON.parse keeps the last of duplicate keys; the slow path must read the document the same way. */
function lastValueWins(info: { newValue: unknown }): unknown {
  return info.newValue;
}
