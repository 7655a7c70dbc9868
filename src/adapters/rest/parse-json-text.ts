/**
 * Parses the JSON of a request (an inference header, a load or index body) so that 64-bit
 * integers survive: JSON.parse turns 9007199254740993 into ...992, which silently corrupts INT64
 * and UINT64 tensors and sequence ids. The fast native parser handles every document that has no
 * integer literal of 16 digits or more (2^53 has 16); only the rare document that does is parsed
 * again, slower, with lossless-json, turning each unsafe integer into a BigInt. Floats keep their
 * long fraction digits on the fast path because a fraction is not an integer literal.
 *
 * Nesting: V8's JSON.parse is not recursive, so depth alone cannot hurt it, and nothing that reads
 * an infer request descends further than `data` (limited to 100 levels by json-tensor-codec.ts).
 * lossless-json is recursive, so the slow path refuses documents nested deeper than
 * MAX_JSON_DEPTH first; other bodies (small, off the hot path) check with checkJsonDepth.
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

/** Triton's HTTP_MAX_JSON_NESTING_DEPTH. */
export const MAX_JSON_DEPTH = 100;

export function parseJsonText(text: string): unknown {
  let lossless = false;
  try {
    if (!LONG_INTEGER.test(text)) return JSON.parse(text);
    lossless = true;
  } catch (error) {
    throw mpError('MP_ERR_REQUEST_MALFORMED', `failed to parse the request JSON buffer: ${(error as Error).message}`, error);
  }
  if (lossless) checkJsonDepth(text);
  try {
    return parseLossless(text, null, { parseNumber, onDuplicateKey: lastValueWins });
  } catch (error) {
    throw mpError('MP_ERR_REQUEST_MALFORMED', `failed to parse the request JSON buffer: ${(error as Error).message}`, error);
  }
}

/** Structural characters and the start of strings, whose contents the scan jumps over. */
const STRUCTURE = /[[\]{}"]/g;
const STRING_REST = /(?:[^"\\]|\\.)*"/y;

/**
 * Refuses JSON text nested deeper than MAX_JSON_DEPTH (arrays and objects), without parsing it:
 * a regular-expression walk from one bracket or quote to the next, a fraction of a parse.
 */
export function checkJsonDepth(text: string): void {
  let depth = 0;
  STRUCTURE.lastIndex = 0;
  for (let match = STRUCTURE.exec(text); match !== null; match = STRUCTURE.exec(text)) {
    const char = text.charCodeAt(match.index);
    if (char === 0x22) {
      STRING_REST.lastIndex = match.index + 1;
      // An unterminated string: the parser will say so.
      if (!STRING_REST.test(text)) return;
      STRUCTURE.lastIndex = STRING_REST.lastIndex;
    } else if (char === 0x5b || char === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) {
        throw mpError('MP_ERR_REQUEST_MALFORMED', `the request JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
      }
    } else {
      depth -= 1;
    }
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
