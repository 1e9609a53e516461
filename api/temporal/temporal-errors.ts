// Reading what the Temporal client threw: an outage, a missing or finished workflow, or a typed rejection
// from the workflow's update validator. Branches on gRPC codes and ApplicationFailure.type, which are stable,
// rather than on messages.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';

/** gRPC status codes (from grpc-js, which is not a direct dependency). */
const GRPC = {
  cancelled: 1,
  deadlineExceeded: 4,
  notFound: 5,
  alreadyExists: 6,
  resourceExhausted: 8,
  failedPrecondition: 9,
  unavailable: 14,
};
/**
 * FAILED_PRECONDITION is what an update gets while the workflow's last task failed and is being retried (a worker
 * killed mid-task, a task that lost a race with a new event): the workflow answers once a worker completes the
 * task, so the caller should try again, as in an outage.
 */
const OUTAGE_CODES = new Set([
  GRPC.cancelled,
  GRPC.deadlineExceeded,
  GRPC.resourceExhausted,
  GRPC.failedPrecondition,
  GRPC.unavailable,
]);
const MAX_CAUSE_DEPTH = 6;

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current && chain.length < MAX_CAUSE_DEPTH;) {
    chain.push(current);
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

function grpcCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, metadata } = error as { code?: unknown; metadata?: unknown };
  // Only gRPC ServiceErrors carry metadata next to a numeric code; a Node error's code is a string.
  return typeof code === 'number' && metadata !== undefined ? code : undefined;
}

/** The server could not be reached in time: a 503 for the caller, who may retry. */
export function isTemporalUnavailableError(error: unknown): boolean {
  return causes(error).some((cause) => {
    const code = grpcCode(cause);
    if (code !== undefined) return OUTAGE_CODES.has(code);
    return cause instanceof WorkflowUpdateRPCTimeoutOrCancelledError;
  });
}

/** No workflow with this ID, or (for signals and updates) it has already completed. */
export function isWorkflowNotFoundError(error: unknown): boolean {
  return causes(error).some((cause) => cause instanceof WorkflowNotFoundError || grpcCode(cause) === GRPC.notFound);
}

/** A start was refused by the ID reuse policy: the order's workflow ran before and has finished. */
export function isWorkflowAlreadyStartedError(error: unknown): boolean {
  return causes(error).some(
    (cause) => cause instanceof WorkflowExecutionAlreadyStartedError || grpcCode(cause) === GRPC.alreadyExists,
  );
}

/** The ApplicationFailure type a workflow (or its update validator) failed with, wherever it sits in the chain. */
export function applicationFailureType(error: unknown): string | undefined {
  for (const cause of causes(error)) {
    if (cause instanceof Error && cause.name === 'ApplicationFailure') {
      const { type } = cause as { type?: unknown };
      if (typeof type === 'string') return type;
    }
  }
  return undefined;
}
