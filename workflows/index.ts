// Every workflow the worker runs. Exported names are wire names: renaming one breaks running workflows.
export { orderRefundWorkflow } from './order-refund.workflow';
export { orderWorkflow } from './order.workflow';
export {
  reconciliationRefundWorkflow,
  reconciliationWorkflow,
  scheduledReconciliationWorkflow,
} from './reconciliation.workflow';
