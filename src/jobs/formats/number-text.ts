/**
 * Numbers written as text, as batch inputs carry them (CSV cells, JSON strings). `parseNumber` is
 * the rule: what Number() reads, except that empty or blank text is no number. `decimalAt` is the
 * fast path the CSV reader takes on raw bytes, without making a string: it reads plain decimals
 * (sign, digits, point, exponent) of at most 15 significant digits and a power of ten within
 * ±22, where one correctly rounded division or multiplication of two exact doubles gives exactly
 * the double Number() gives (Clinger's fast path). Anything else it answers NaN, and the caller
 * decodes the text and asks parseNumber, which stays the only authority.
 */

const HAS_DIGIT = /\d/;

/** Number() of a CSV cell or JSON string, NaN for text that is not a number (including "" and blanks). */
export function parseNumber(text: string): number {
  if (text.length === 0) return NaN;
  const value = Number(text);
  // Number() reads blank text as 0.
  if (value === 0 && !HAS_DIGIT.test(text)) return NaN;
  return value;
}

/** 10^0 … 10^22: every one exactly representable as a double. */
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
const MAX_SIGNIFICANT = 15;

const PLUS = 0x2b;
const MINUS = 0x2d;
const POINT = 0x2e;
const ZERO = 0x30;

/**
 * The value of the ASCII decimal in bytes [start, end), exactly as Number() would read it, or NaN
 * when the text is outside the fast path (which says nothing about whether it is a number).
 */
export function decimalAt(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (i < end) {
    const first = bytes[i]!;
    if (first === MINUS) {
      negative = true;
      i++;
    } else if (first === PLUS) {
      i++;
    }
  }
  let mantissa = 0;
  let significant = 0;
  let digits = 0;
  let scale = 0;
  for (; i < end; i++) {
    const d = bytes[i]! - ZERO;
    if (d < 0 || d > 9) break;
    digits++;
    if (mantissa !== 0 || d !== 0) {
      if (++significant > MAX_SIGNIFICANT) return NaN;
      mantissa = mantissa * 10 + d;
    }
  }
  if (i < end && bytes[i] === POINT) {
    for (i++; i < end; i++) {
      const d = bytes[i]! - ZERO;
      if (d < 0 || d > 9) break;
      digits++;
      scale++;
      if (mantissa !== 0 || d !== 0) {
        if (++significant > MAX_SIGNIFICANT) return NaN;
        mantissa = mantissa * 10 + d;
      }
    }
  }
  if (digits === 0) return NaN;
  let exponent = 0;
  if (i < end && (bytes[i] === 0x65 || bytes[i] === 0x45)) {
    i++;
    let negativeExponent = false;
    if (i < end && (bytes[i] === MINUS || bytes[i] === PLUS)) negativeExponent = bytes[i++] === MINUS;
    const from = i;
    for (; i < end; i++) {
      const d = bytes[i]! - ZERO;
      if (d < 0 || d > 9) break;
      // Far beyond any power the fast path takes; only keeps the count from growing without bound.
      if (exponent < 10_000) exponent = exponent * 10 + d;
    }
    if (i === from) return NaN;
    if (negativeExponent) exponent = -exponent;
  }
  if (i !== end) return NaN;
  const power = exponent - scale;
  let value: number;
  if (mantissa === 0) value = 0;
  else if (power === 0) value = mantissa;
  else if (power < 0) {
    if (power < -22) return NaN;
    value = mantissa / POWERS_OF_TEN[-power]!;
  } else {
    if (power > 22) return NaN;
    value = mantissa * POWERS_OF_TEN[power]!;
  }
  return negative ? -value : value;
}
