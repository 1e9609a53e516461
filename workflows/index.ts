// Every workflow the worker runs. Exported names are wire names: renaming one breaks running workflows.
export {
  merchantEventDeliveryWorkflow,
  merchantEventSweepWorkflow,
} from './merchant-events/merchant-event-delivery.workflow';
export { orderRefundWorkflow } from './order-refund.workflow';
export { orderWorkflow } from './order.workflow';
export {
  reconciliationRefundWorkflow,
  reconciliationWorkflow,
  scheduledReconciliationWorkflow,
} from './reconciliation.workflow';
