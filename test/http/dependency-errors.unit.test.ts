// Which failures are outages (503, the caller retries) and which are bugs (500), for PostgreSQL and Temporal.
import {
  ApplicationFailure,
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { isDatabaseUnavailableError } from '../../api/http/database-errors';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowAlreadyStartedError,
  isWorkflowNotFoundError,
} from '../../api/temporal/temporal-errors';

const withCode = (code: string | number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`code ${code}`), { code, ...extra });
/** The shape of a grpc-js ServiceError. */
const grpcError = (code: number) => withCode(code, { details: 'x', metadata: {} });

describe('isDatabaseUnavailableError', () => {
  test.each([
    ['a refused connection', withCode('ECONNREFUSED')],
    [
      'a dual-stack refused connection',
      Object.assign(new AggregateError([withCode('ECONNREFUSED')]), { code: undefined }),
    ],
    ['an admin shutdown', withCode('57P01')],
    ['a connection exception', withCode('08006')],
    ['too many connections', withCode('53300')],
    ['a pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['a terminated connection', new Error('Connection terminated unexpectedly')],
    ['a wrapped refusal', new Error('wrapped', { cause: withCode('ECONNREFUSED') })],
  ])('when it is %s, then it is an outage', (_case, error) => {
    expect(isDatabaseUnavailableError(error)).toBe(true);
  });

  test.each([
    ['a unique violation', withCode('23505')],
    ['a syntax error', withCode('42601')],
    ['a plain error', new Error('boom')],
    ['not an error', 'ECONNREFUSED'],
  ])('when it is %s, then it is not an outage', (_case, error) => {
    expect(isDatabaseUnavailableError(error)).toBe(false);
  });
});

describe('Temporal errors', () => {
  test.each([
    ['UNAVAILABLE inside a ServiceError', new ServiceError('down', { cause: grpcError(14) })],
    ['DEADLINE_EXCEEDED', grpcError(4)],
    ['FAILED_PRECONDITION (the workflow task failed and is retried)', new ServiceError('wft', { cause: grpcError(9) })],
    ['an update RPC timeout', new WorkflowUpdateRPCTimeoutOrCancelledError('timeout')],
  ])('when it is %s, then it is an outage', (_case, error) => {
    expect(isTemporalUnavailableError(error)).toBe(true);
  });

  test.each([
    ['INVALID_ARGUMENT', new ServiceError('bad', { cause: grpcError(3) })],
    ['a Node error with a string code', withCode('ECONNREFUSED')],
    ['an update failure', new WorkflowUpdateFailedError('rejected', ApplicationFailure.create({ type: 'X' }))],
  ])('when it is %s, then it is not an outage', (_case, error) => {
    expect(isTemporalUnavailableError(error)).toBe(false);
  });

  test('when the workflow is missing or completed, then it is recognised either as an SDK error or a NOT_FOUND', () => {
    expect(isWorkflowNotFoundError(new WorkflowNotFoundError('gone', 'order-1', undefined))).toBe(true);
    expect(isWorkflowNotFoundError(new ServiceError('x', { cause: grpcError(5) }))).toBe(true);
    expect(isWorkflowNotFoundError(grpcError(14))).toBe(false);
  });

  test('when a start is refused by the reuse policy, then it is recognised either as an SDK error or ALREADY_EXISTS', () => {
    expect(
      isWorkflowAlreadyStartedError(new WorkflowExecutionAlreadyStartedError('x', 'order-1', 'orderWorkflow')),
    ).toBe(true);
    expect(isWorkflowAlreadyStartedError(grpcError(6))).toBe(true);
    expect(isWorkflowAlreadyStartedError(grpcError(5))).toBe(false);
  });

  test('when an update is rejected with a typed ApplicationFailure, then its type is found in the cause chain', () => {
    const rejected = new WorkflowUpdateFailedError(
      'Workflow Update failed',
      ApplicationFailure.create({ type: 'IdempotencyConflict', message: 'different request', nonRetryable: true }),
    );
    expect(applicationFailureType(rejected)).toBe('IdempotencyConflict');
    expect(applicationFailureType(new Error('plain'))).toBeUndefined();
  });
});
