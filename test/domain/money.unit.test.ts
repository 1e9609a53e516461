// The one conversion between paisa and the rupee strings eSewa puts on the wire: exact, no floats.
import { paisaToRupees, rupeesToPaisa } from '../../domain/money';

describe('paisa to rupees', () => {
  it.each([
    [0, '0'],
    [1, '0.01'],
    [10, '0.10'],
    [99, '0.99'],
    [100, '1'],
    [101, '1.01'],
    [110_00, '110'],
    [1_000_50, '1000.50'],
    [Number.MAX_SAFE_INTEGER, '90071992547409.91'],
  ])('when %d paisa are written, then the string is %s', (paisa, rupees) => {
    expect(paisaToRupees(paisa)).toBe(rupees);
  });

  it.each([-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1, Infinity])(
    'when %s is not a non-negative safe integer, then it throws',
    (paisa) => {
      expect(() => paisaToRupees(paisa)).toThrow(RangeError);
    },
  );
});

describe('rupees to paisa', () => {
  it.each([
    ['1000', 100_000],
    ['1000.0', 100_000],
    ['1000.00', 100_000],
    ['1000.000', 100_000],
    ['1,000', 100_000],
    ['1,000.5', 100_050],
    ['12,345,678.90', 1_234_567_890],
    ['0', 0],
    ['0.01', 1],
    ['0.1', 10],
    ['110', 11_000],
    ['90071992547409.91', Number.MAX_SAFE_INTEGER],
  ])('when eSewa sends "%s", then it is %d paisa', (rupees, paisa) => {
    expect(rupeesToPaisa(rupees)).toBe(paisa);
  });

  it.each([
    '',
    ' 1000',
    '1000 ',
    '-1',
    '+1',
    '1e3',
    '1000.001',
    '0.005',
    '1.',
    '.5',
    '1,00',
    '1,0000',
    '10,00.5',
    'NaN',
    '१००',
    '90071992547409.92',
    '999999999999999999999',
  ])('when eSewa sends "%s", then it is not an amount', (rupees) => {
    expect(rupeesToPaisa(rupees)).toBeUndefined();
  });

  it('when any amount is written and read back, then it is the same number of paisa', () => {
    for (const paisa of [0, 1, 9, 10, 99, 100, 101, 999, 1_000, 123_456, 10_000_000_00, Number.MAX_SAFE_INTEGER]) {
      expect(rupeesToPaisa(paisaToRupees(paisa))).toBe(paisa);
    }
  });
});
