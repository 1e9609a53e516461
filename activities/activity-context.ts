// What an activity's log lines carry about the Temporal execution they belong to.
import { Context } from '@temporalio/activity';

/** The workflow and attempt an activity runs for, when it runs under Temporal (not in a direct call). */
export function temporalBindings(): Record<string, unknown> {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return {};
  }
  return {
    workflowId: info.workflowExecution?.workflowId,
    runId: info.workflowExecution?.runId,
    attempt: info.attempt,
  };
}
