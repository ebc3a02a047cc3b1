import { describe, expect, it } from 'vitest';
import { HttpProblem } from '../../src/api/error-handler.ts';
import { decodeListCursor, encodeListCursor } from '../../src/api/list-cursor.ts';

describe('the cursor of GET /orders', () => {
  it.each(['0b7c5a3e-1f7e-4a8e-9a59-3f0b1c2d4e5f', 'order-ü-日本', 'x'.repeat(100)])('gives back the order id it was made from (%s)', (orderId) => {
    const cursor = encodeListCursor(orderId);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeListCursor(cursor)).toBe(orderId);
  });

  it.each([
    ['characters outside base64url', '!!!notbase64'],
    ['a NUL order id', 'AAAA'],
    ['bytes that are not UTF-8', '_w'],
    ['a non-canonical encoding', 'YWJjZA='],
    ['an order id over 100 characters', encodeListCursor('x'.repeat(101))],
  ])('refuses a cursor with %s as a 400 naming the cursor', (_case, cursor) => {
    let thrown: unknown;
    try {
      decodeListCursor(cursor);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HttpProblem);
    expect(thrown).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', message: expect.stringMatching(/^querystring\/cursor /) as unknown });
  });
});
