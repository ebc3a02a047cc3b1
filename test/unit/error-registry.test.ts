import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/stack/paths.ts';
import * as errors from '../../src/domain/errors.ts';
import { errorCodes, nonRetryableErrorCodes } from '../../src/domain/errors.ts';

/** Rows of the table in docs/errors.md: code → retryable. */
function documentedCodes(): Record<string, boolean> {
  const rows = readFileSync(join(projectRoot, 'docs', 'errors.md'), 'utf8').matchAll(/^\| `([A-Z_]+)` \| (yes|no) \|/gm);
  return Object.fromEntries([...rows].map((m): [string, boolean] => [m[1] ?? '', m[2] === 'yes']));
}

describe('error registry', () => {
  it('documents every code, with whether it is retried, and nothing else', () => {
    expect(documentedCodes()).toEqual(Object.fromEntries(Object.entries(errorCodes).map(([code, { retryable }]) => [code, retryable])));
  });

  it('has one error class per code, agreeing with the registry on retries', () => {
    const classes = Object.values(errors).filter((v) => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof errors.OrderSagaError);
    // Constructor arguments only fill the message and context fields; code and retryable are fixed per class.
    const instances = classes.map((c) =>
      Reflect.construct<string[], errors.OrderSagaError>(c as new (...args: string[]) => errors.OrderSagaError, ['x', 'y', 'z']),
    );
    expect(instances).toHaveLength(Object.keys(errorCodes).length);
    expect(Object.fromEntries(instances.map((e) => [e.code, e.retryable]))).toEqual(
      Object.fromEntries(Object.entries(errorCodes).map(([code, { retryable }]) => [code, retryable])),
    );
  });

  it('lists the business failures as the non-retryable types of the retry profiles', () => {
    expect(nonRetryableErrorCodes).toEqual(expect.arrayContaining(['OUT_OF_STOCK', 'UNKNOWN_SKU', 'PAYMENT_DECLINED']));
    expect(nonRetryableErrorCodes).not.toContain('PAYMENT_GATEWAY_UNAVAILABLE');
  });
});
