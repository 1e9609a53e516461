// The activity error classifier: only faults a later attempt can outlive stay retryable. Proves the SQLSTATE classes
// (with the codes PostgreSQL really sends), gateway errors, and JavaScript's own errors for values it cannot handle.
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { classifySqlState, toActivityFailure } from '../../activities/activity-errors';
import { GatewayRejectedError, GatewayUnavailableError } from '../../gateways/gateway-errors';

function databaseError(code: string, constraint?: string): pg.DatabaseError {
  const error = new pg.DatabaseError(`postgres says ${code}`, 0, 'error');
  error.code = code;
  if (constraint) error.constraint = constraint;
  return error;
}

const context = { orderId: 'ord-1' };

describe('classifySqlState', () => {
  it.each([
    ['08006', 'connection_failure'],
    ['08001', 'sqlclient_unable_to_establish_sqlconnection'],
    ['40001', 'serialization_failure'],
    ['40P01', 'deadlock_detected'],
    ['53300', 'too_many_connections'],
    ['57014', 'query_canceled (statement timeout)'],
    ['57P01', 'admin_shutdown'],
    ['58030', 'io_error'],
    ['55P03', 'lock_not_available'],
  ])('when PostgreSQL answers %s (%s), then it is transient', (code) => {
    expect(classifySqlState(code)).toBe('transient');
  });

  it.each([
    ['22021', 'character_not_in_repertoire (a NUL in text)'],
    ['22P05', 'untranslatable_character (\\u0000 in jsonb)'],
    ['22003', 'numeric_value_out_of_range'],
    ['22001', 'string_data_right_truncation'],
    ['23514', 'check_violation'],
    ['23502', 'not_null_violation'],
    ['23505', 'unique_violation'],
    ['54000', 'program_limit_exceeded'],
  ])('when PostgreSQL answers %s (%s), then the data is invalid', (code) => {
    expect(classifySqlState(code)).toBe('invalid_data');
  });

  it.each([['42P01'], ['42501']])(
    'when PostgreSQL answers %s (a deployment problem), then it stays retryable',
    (code) => {
      expect(classifySqlState(code)).toBe('unknown');
    },
  );
});

describe('toActivityFailure', () => {
  it('when the database refuses a value, then it is a non-retryable InvalidOrderData naming the SQLSTATE', () => {
    const failure = toActivityFailure(databaseError('22021'), context) as ApplicationFailure;

    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe('InvalidOrderData');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.details).toEqual([{ sqlState: '22021', constraint: undefined }]);
  });

  it('when a row references a missing order, then it is OrderNotFound', () => {
    const failure = toActivityFailure(databaseError('23503', 'refunds_order_id_fkey'), context) as ApplicationFailure;
    expect(failure.type).toBe('OrderNotFound');
    expect(failure.nonRetryable).toBe(true);
  });

  it.each([['08006'], ['40001'], ['53300'], ['57P01'], ['55P03'], ['42P01']])(
    'when the database fails with %s, then the error is returned as-is for Temporal to retry',
    (code) => {
      const error = databaseError(code);
      expect(toActivityFailure(error, context)).toBe(error);
    },
  );

  it('when a connection is refused, then it is returned as-is (retryable)', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(toActivityFailure(refused, context)).toBe(refused);
  });

  it.each([
    ['URIError', new URIError('URI malformed')],
    ['RangeError', new RangeError('Invalid time value')],
    ['TypeError', new TypeError("Cannot read properties of undefined (reading 'id')")],
  ])('when the activity throws a %s, then no retry can help and it is non-retryable', (name, error) => {
    const failure = toActivityFailure(error, context) as ApplicationFailure;

    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.type).toBe('InvalidOrderData');
    expect(failure.details).toEqual([{ error: name }]);
  });

  it('when fetch fails on the network (a TypeError with a system error cause), then it stays retryable', () => {
    const cause = Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' });
    const error = new TypeError('fetch failed', { cause });
    expect(toActivityFailure(error, context)).toBe(error);
  });

  it('when the gateway rejects or is unavailable, then the first is non-retryable and the second retryable with its delay', () => {
    const rejected = toActivityFailure(new GatewayRejectedError('no', 'card_declined', 402), context);
    const unavailable = toActivityFailure(new GatewayUnavailableError('503', 1_500, 503), context);

    expect(rejected).toMatchObject({ type: 'GatewayRejected', nonRetryable: true });
    expect(unavailable).toMatchObject({ type: 'GatewayUnavailable', nonRetryable: false, nextRetryDelay: 1_500 });
  });
});
