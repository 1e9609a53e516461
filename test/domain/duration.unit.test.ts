import { parseDurationMs } from '../../domain/duration';
import { pollDelayMs } from '../../domain/poll-schedule';

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
  ])('when given %s, then it returns %d ms', (text, expected) => {
    expect(parseDurationMs(text)).toBe(expected);
  });

  it.each(['', '15', 'm', '1.5h', '-1s', '15 minutes', '1h 30m'])('when given %p, then it rejects it', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});

describe('pollDelayMs', () => {
  const policy = { initialIntervalMs: 1_000, backoffCoefficient: 2, maxIntervalMs: 5_000 };
  it('when polls repeat, then the delay doubles up to the maximum', () => {
    expect([0, 1, 2, 3, 4].map((i) => pollDelayMs(policy, i))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });
});
