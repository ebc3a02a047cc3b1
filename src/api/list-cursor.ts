import { HttpProblem } from './error-handler.ts';

/** Order ids are at most this long (the path parameter's bound), so a cursor's is too. */
const maxOrderIdLength = 100;

/** The `cursor` of `GET /orders` that follows `orderId`: opaque to clients (base64url of the id). */
export function encodeListCursor(orderId: string): string {
  return Buffer.from(orderId, 'utf8').toString('base64url');
}

/**
 * The order id a `cursor` of `GET /orders` continues after; a 400 naming `cursor` when it is not
 * one this API gave out. Base64 decoding never fails on its own (it skips what it cannot read), so
 * the cursor must encode back to itself, which also refuses bytes that are not UTF-8.
 */
export function decodeListCursor(cursor: string): string {
  const orderId = Buffer.from(cursor, 'base64url').toString('utf8');
  if (orderId.length === 0 || orderId.length > maxOrderIdLength || orderId.includes('\u0000') || encodeListCursor(orderId) !== cursor) {
    throw new HttpProblem(400, 'VALIDATION_FAILED', 'querystring/cursor is not a cursor this API gave out: pass the nextCursor of the previous page');
  }
  return orderId;
}
