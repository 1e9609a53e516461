// What the bench's client and the bare workflow share: the update and signal of the bare checkout shape.
import { defineSignal, defineUpdate } from '@temporalio/workflow';

export const BARE_WORKFLOW_TYPE = 'bareCheckoutWorkflow';
export const BARE_INBOX_WORKFLOW_TYPE = 'bareInboxWorkflow';
export const bareInboxWorkflowId = (orderId: string): string => `bare-inbox-${orderId}`;
export const bareCheckoutUpdate = defineUpdate<{ intentId: string }>('bareCheckout');
export const barePaidSignal = defineSignal('barePaid');
