/** The only swagger-ui-dist files the docs page uses (its index.html and initializer point at a remote demo API). */
export const DOCS_ASSETS = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const;
export type DocsAsset = keyof typeof DOCS_ASSETS;
export const DOCS_ASSET_NAMES = Object.keys(DOCS_ASSETS) as [DocsAsset, ...DocsAsset[]];
