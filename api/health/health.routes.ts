// Liveness answers from the process alone; readiness asks the dependencies.
import { Router } from 'express';
import { checkReadiness, type ReadinessDeps } from './check-readiness.use-case';
import { rejectOtherMethods } from '../http/error-handler';

export function healthRoutes(deps: ReadinessDeps): Router {
  const router = Router();
  router
    .route('/healthz')
    .get((_req, res) => {
      res.status(200).json({ status: 'ok' });
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));
  router
    .route('/readyz')
    .get(async (_req, res) => {
      res.status(200).json(await checkReadiness({ ...deps, logger: res.locals.logger }));
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));
  return router;
}
