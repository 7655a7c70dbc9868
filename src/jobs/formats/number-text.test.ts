/**
 * decimalAt, the CSV reader's fast path for numbers, is Number() wherever it gives a value: on
 * random decimals of every length and exponent, and on text it must leave to parseNumber.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decimalAt, parseNumber } from './number-text.js';

function fast(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  return decimalAt(bytes, 0, bytes.length);
}

describe('decimalAt', () => {
  test('equals Number() on random decimals, or declines', () => {
    let seed = 3;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const digits = (n: number) => Array.from({ length: n }, () => String(random(10))).join('');
    let taken = 0;
    for (let i = 0; i < 200_000; i++) {
      const sign = ['', '-', '+'][random(3)]!;
      const whole = digits(random(12));
      const fraction = random(3) === 0 ? '' : `.${digits(random(14))}`;
      const exponent = random(4) === 0 ? `${['e', 'E'][random(2)]}${['', '-', '+'][random(3)]}${digits(1 + random(2))}` : '';
      const text = `${sign}${whole}${fraction}${exponent}`;
      const value = fast(text);
      if (Number.isNaN(value)) continue;
      taken++;
      assert.ok(Object.is(value, Number(text)), `${text}: ${value} vs ${Number(text)}`);
      // The float32 a model input gets is the same too.
      assert.ok(Object.is(Math.fround(value), Math.fround(Number(text))), text);
    }
    assert.ok(taken > 100_000, `only ${taken} took the fast path`);
  });

  test('what the fast path leaves to parseNumber', () => {
    for (const text of ['', '.', '-', '+', 'e5', '1e', '1e+', ' 1', '1 ', '0x10', '1_0', 'NaN', 'Infinity', '1.2.3', '1234567890123456', '1e23', '1e-23', '--1']) {
      assert.ok(Number.isNaN(fast(text)), `'${text}' should be declined`);
    }
    assert.ok(Object.is(fast('-0'), -0));
    assert.equal(fast('0.001'), 0.001);
    assert.equal(fast('000123.4500'), 123.45);
    assert.equal(fast('.5'), 0.5);
    assert.equal(fast('5.'), 5);
  });

  test('parseNumber: Number(), but blank text is no number', () => {
    assert.ok(Number.isNaN(parseNumber('')));
    assert.ok(Number.isNaN(parseNumber('  ')));
    assert.equal(parseNumber(' 1.5 '), 1.5);
    assert.equal(parseNumber('0x10'), 16);
  });
});
