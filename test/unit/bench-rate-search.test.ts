import { describe, expect, it } from 'vitest';
import { nextSearchRate, searchBounds, type TriedRate } from '../../bench/rate-search.ts';

/** The rates the search tries from `start` on a system that sustains every rate up to `capacity`. */
function searchAgainst(start: number, capacity: number, maxRate = 1000): number[] {
  const tried: TriedRate[] = [{ rate: start, sustained: start <= capacity }];
  for (let next = nextSearchRate(tried, { maxRate }); next !== undefined; next = nextSearchRate(tried, { maxRate })) {
    tried.push({ rate: next, sustained: next <= capacity });
  }
  return tried.map((t) => t.rate);
}

describe('the search for the highest sustained rate', () => {
  it('rises ×1.5 until a rate is not sustained, then bisects until the highest sustained and the lowest failed rates are within 10%', () => {
    // 5 → 7.5 → 11.3 → 17 → 25.5 (fails), then between 17 and 25.5.
    expect(searchAgainst(5, 20)).toEqual([5, 7.5, 11.3, 17, 25.5, 21.3, 19.2, 20.3]);
    const tried = searchAgainst(5, 20).map((rate) => ({ rate, sustained: rate <= 20 }));
    expect(searchBounds(tried)).toEqual({ sustained: 19.2, failed: 20.3 });
    expect((20.3 - 19.2) / 19.2).toBeLessThanOrEqual(0.1);
  });

  it('bisects between the fixed rate and the first rising rate when only the fixed rate is sustained', () => {
    expect(searchAgainst(10, 11)).toEqual([10, 15, 12.5, 11.3, 10.7]);
  });

  it('tries nothing more when the fixed rate is not sustained', () => {
    expect(searchAgainst(5, 4)).toEqual([5]);
  });

  it('stops rising at the maximum rate', () => {
    expect(searchAgainst(5, 1000, 12)).toEqual([5, 7.5, 11.3]);
  });

  it('ends when rates of one decimal leave nothing between the bounds', () => {
    expect(
      nextSearchRate(
        [
          { rate: 0.5, sustained: true },
          { rate: 0.6, sustained: false },
        ],
        { maxRate: 10 },
      ),
    ).toBeUndefined();
  });
});
