// THE place to document a route: every route the app serves has an entry in one of these modules (one module per
// routes file), and test/openapi/openapi.test.ts fails while any served route is missing here. A new routes file adds
// its `<area>.paths.ts` next to these and one line below.
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { adminPaths } from './admin.paths';
import { apiKeysPaths } from './api-keys.paths';
import { callbacksPaths } from './callbacks.paths';
import { codecPaths } from './codec.paths';
import { docsPaths } from './docs.paths';
import { healthPaths } from './health.paths';
import { merchantEventsPaths } from './merchant-events.paths';
import { ordersPaths } from './orders.paths';
import { payPagePaths } from './pay-page.paths';
import { reconciliationPaths } from './reconciliation.paths';
import { webhooksPaths } from './webhooks.paths';

export const apiPaths: ZodOpenApiPathsObject = {
  ...healthPaths,
  ...ordersPaths,
  ...webhooksPaths,
  ...callbacksPaths,
  ...payPagePaths,
  ...adminPaths,
  ...apiKeysPaths,
  ...reconciliationPaths,
  ...merchantEventsPaths,
  ...docsPaths,
  ...codecPaths,
};
