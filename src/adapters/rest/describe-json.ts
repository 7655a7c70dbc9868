/**
 * A value from a request's JSON as a short text for an error message. It never throws: request
 * values may hold BigInts (which JSON.stringify refuses) or nest deeply enough to overflow the
 * stack, and the message of a refusal must not turn it into a 500. Long texts are cut, so a
 * 60 MB string does not come back in the error body.
 */
const MAX_CHARS = 40;

export function describeJson(value: unknown): string {
  let text: string;
  if (value === undefined) text = 'nothing';
  else if (typeof value === 'bigint') text = String(value);
  else if (Array.isArray(value) && value.length === 0) text = '[]';
  else {
    try {
      text = JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? Number(item) : item)) ?? String(value);
    } catch {
      text = Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : String(value);
    }
  }
  return text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS - 3)}...` : text;
}
