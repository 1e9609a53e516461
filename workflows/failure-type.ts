// Reading an activity or child failure inside workflow code, without instanceof on the wrapper.
import { ApplicationFailure } from '@temporalio/workflow';

/** The failure type of an activity error (ApplicationFailure.type), for branching without instanceof. */
export function failureType(error: unknown): string | undefined {
  const cause = (error as { cause?: { type?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.type === 'string') return cause.type;
  return error instanceof ApplicationFailure ? (error.type ?? undefined) : undefined;
}
