import { describe, expect, it } from 'vitest';
import { isBenchResultFile } from '../../bench/report.ts';

describe('the comparison report reads benchmark results only', () => {
  it("takes both profiles' result files and leaves out the chaos and soak runs that share the folder", () => {
    expect(isBenchResultFile('2026-11-27T11-08-16-925Z.json')).toBe(true);
    expect(isBenchResultFile('2026-11-29T19-00-02-325Z-cluster.json')).toBe(true);
    expect(isBenchResultFile('chaos-2026-11-29T18-49-52-896Z.json')).toBe(false);
    expect(isBenchResultFile('soak-2026-11-29T22-30-00-000Z.json')).toBe(false);
    expect(isBenchResultFile('2026-11-27T11-08-16-925Z.md')).toBe(false);
  });
});
