// Every workflow the order worker runs. Exported names are wire names: renaming one breaks running orders.
export { orderWorkflow } from './order.workflow';
