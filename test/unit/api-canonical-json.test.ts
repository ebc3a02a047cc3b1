import { describe, expect, it } from 'vitest';
import { canonicalJson, sameJson } from '../../src/domain/canonical-json.ts';

describe('canonical JSON', () => {
  it('gives the same form to the same content whatever the key order, at every depth', () => {
    const a = { items: [{ sku: 'KB-001', quantity: 1 }], customerId: 'c1', nested: { z: 1, a: [true, null] } };
    const b = JSON.parse('{ "nested": {"a": [true, null], "z": 1}, "customerId": "c1", "items": [ {"quantity": 1, "sku": "KB-001"} ] }') as unknown;
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(sameJson(a, b)).toBe(true);
    expect(canonicalJson(b)).toBe('{"customerId":"c1","items":[{"quantity":1,"sku":"KB-001"}],"nested":{"a":[true,null],"z":1}}');
  });

  it('tells different content apart, including array order and value types', () => {
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson({ quantity: 1 }, { quantity: '1' })).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });

  it('sorts keys by UTF-16 code units and serializes numbers as RFC 8785 does', () => {
    expect(canonicalJson({ '\u20ac': 1, '\r': 2, '1': 3, a: 1e21, b: 0.000001, c: -0 })).toBe('{"\\r":2,"1":3,"a":1e+21,"b":0.000001,"c":0,"€":1}');
  });
});
