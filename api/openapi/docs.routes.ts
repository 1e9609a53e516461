// /openapi.json and /docs: the OpenAPI document and Swagger UI, served from the swagger-ui-dist package in
// node_modules, so the page works without network access and loads nothing from another origin.
import { Router } from 'express';
import path from 'node:path';
import { rejectOtherMethods } from '../http/error-handler';
import { routeNotFound } from '../http/errors';
import { DOCS_ASSETS } from './docs-assets';
import { createOpenApiDocument } from './document';

const ASSET_MAX_AGE_SECONDS = 3600;

const DOCS_PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>orderpay API</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io for a badge.
const DOCS_INIT_SCRIPT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
  });
});
`;

export function docsRoutes(deps: { config: { PUBLIC_BASE_URL: string } }): Router {
  const router = Router();
  // Built once: the document depends only on the schemas and the configured public URL.
  const document = createOpenApiDocument({ serverUrl: deps.config.PUBLIC_BASE_URL });
  // Located, not required: the package's main module would load and run the browser bundle inside the API.
  const assetDir = path.dirname(require.resolve('swagger-ui-dist/package.json'));

  router
    .route('/openapi.json')
    .get((_req, res) => {
      res.status(200).json(document);
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/docs')
    .get((_req, res) => {
      res.status(200).type('html').send(DOCS_PAGE);
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/docs/init.js')
    .get((_req, res) => {
      res.status(200).type('text/javascript').send(DOCS_INIT_SCRIPT);
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/docs/assets/:file')
    .get((req, res, next) => {
      const file = req.params.file;
      const contentType = Object.hasOwn(DOCS_ASSETS, file) ? DOCS_ASSETS[file as keyof typeof DOCS_ASSETS] : undefined;
      if (!contentType) {
        next(routeNotFound());
        return;
      }
      res.setHeader('Content-Type', contentType);
      res.sendFile(path.join(assetDir, file), { maxAge: ASSET_MAX_AGE_SECONDS * 1000 }, (error) => {
        if (error) next(error);
      });
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  return router;
}
