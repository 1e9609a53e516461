// GET /metrics: the API's Prometheus metrics. No auth, like /healthz: it names counts, never orders or people;
// keep it off the public internet at the proxy if that matters to you.
import { Router } from 'express';
import type { ApiMetrics } from '../config/metrics';
import { rejectOtherMethods } from './error-handler';

export function metricsRoutes({ metrics: { registry } }: { metrics: ApiMetrics }): Router {
  const router = Router();
  router
    .route('/metrics')
    .get(async (_req, res) => {
      const text = await registry.metrics();
      res.status(200).type(registry.contentType).send(text);
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));
  return router;
}
