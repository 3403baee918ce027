import { describe, expect, it } from 'bun:test';
import { hasReached, parseGtidPosition, samePosition } from './gtid.ts';
import { PrimaryHistory } from './primary-history.ts';

function position(text: string) {
  const parsed = parseGtidPosition(text);
  if (parsed === null) throw new Error(`not a position: ${text}`);
  return parsed;
}

describe('unit: GTID positions', () => {
  it('should read one GTID per domain, and the empty position', () => {
    expect(position('')).toEqual(new Map());
    expect(position('0-1-42')).toEqual(new Map([[0, 42n]]));
    expect(position('0-1-42,1-3-7')).toEqual(
      new Map([
        [0, 42n],
        [1, 7n],
      ]),
    );
    expect(position(' 0-1-18446744073709551615 ')).toEqual(new Map([[0, 18446744073709551615n]]));
  });

  it('should refuse what is not a MariaDB position (a MySQL GTID set, a number)', () => {
    expect(parseGtidPosition('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5')).toBeNull();
    expect(parseGtidPosition('42')).toBeNull();
    expect(parseGtidPosition('0-1')).toBeNull();
  });

  it('should compare sequence numbers per domain, whatever server wrote them', () => {
    expect(hasReached(position('0-1-42'), position('0-1-42'))).toBe(true);
    expect(hasReached(position('0-2-43'), position('0-1-42'))).toBe(true);
    expect(hasReached(position('0-1-41'), position('0-1-42'))).toBe(false);
    // Every domain of the target must be reached; extra domains do not matter.
    expect(hasReached(position('0-1-50'), position('0-1-42,1-1-1'))).toBe(false);
    expect(hasReached(position('0-1-50,1-1-1,2-1-9'), position('0-1-42,1-1-1'))).toBe(true);
    // Nothing written yet: everything has reached it.
    expect(hasReached(position(''), position(''))).toBe(true);
    expect(samePosition(position('0-1-42'), position('0-2-42'))).toBe(true);
    expect(samePosition(position('0-1-42'), position('0-1-42,1-1-1'))).toBe(false);
  });
});

describe('unit: PrimaryHistory', () => {
  it('should date a replica by the newest primary position it has reached', () => {
    const history = new PrimaryHistory(10_000);
    history.observe(position('0-1-10'), 100);
    history.observe(position('0-1-20'), 200);
    history.observe(position('0-1-30'), 300);
    expect(history.freshAsOf(position('0-1-30'))).toBe(300);
    expect(history.freshAsOf(position('0-1-25'))).toBe(200);
    expect(history.freshAsOf(position('0-1-10'))).toBe(100);
    expect(history.freshAsOf(position('0-1-9'))).toBe(Number.NEGATIVE_INFINITY);
  });

  it('should keep an idle primary current: its one position is seen again at every check', () => {
    const history = new PrimaryHistory(1000);
    history.observe(position('0-1-10'), 100);
    history.observe(position('0-1-10'), 60_000);
    expect(history.size).toBe(1);
    expect(history.freshAsOf(position('0-1-10'))).toBe(60_000);
  });

  it('should forget positions past the horizon, keeping the answer for everything within it', () => {
    const history = new PrimaryHistory(1000);
    for (let i = 1; i <= 100; i++) history.observe(position(`0-1-${i}`), i * 100);
    // Within the horizon (the last 1000 ms) every sample still answers.
    expect(history.freshAsOf(position('0-1-91'))).toBe(9100);
    expect(history.size).toBeLessThanOrEqual(12);
    // Behind everything kept: older than the horizon, which is all a bound needs.
    expect(history.freshAsOf(position('0-1-50'))).toBe(Number.NEGATIVE_INFINITY);
    // The newest sample always stays, however long the primary is idle.
    history.observe(position('0-1-100'), 1_000_000);
    expect(history.size).toBe(1);
    expect(history.freshAsOf(position('0-1-100'))).toBe(1_000_000);
  });

  it('should keep at most so many samples, counting a replica behind them all as too old', () => {
    const history = new PrimaryHistory(60_000, 3);
    for (let i = 1; i <= 5; i++) history.observe(position(`0-1-${i}`), i);
    expect(history.size).toBe(3);
    expect(history.freshAsOf(position('0-1-3'))).toBe(3);
    expect(history.freshAsOf(position('0-1-2'))).toBe(Number.NEGATIVE_INFINITY);
  });
});
