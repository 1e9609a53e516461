// Every method + path the Express app serves, read from its router stack (not from a list someone keeps): the
// OpenAPI coverage test and the admin 401 test both enumerate routes from here, so a new route is checked the
// moment it is mounted.
import type { Express } from 'express';

export interface ServedRoute {
  /** Upper case: GET, POST, … (`.all()` handlers, which only answer 405/OPTIONS, are not routes of their own). */
  method: string;
  /** Express syntax: /orders/:orderId */
  path: string;
}

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  slash?: boolean;
  rawPath?: unknown;
}

export function servedRoutes(app: Express): ServedRoute[] {
  const router = (app as unknown as { router: { stack: Layer[] } }).router;
  return walk(router.stack, '');
}

function walk(stack: Layer[], prefix: string): ServedRoute[] {
  return stack.flatMap((layer): ServedRoute[] => {
    if (layer.route) {
      const { path, methods } = layer.route;
      if (typeof path !== 'string') throw new Error(`route path ${String(path)} is not a string; cannot enumerate it`);
      return Object.keys(methods)
        .filter((method) => method !== '_all')
        .map((method) => ({ method: method.toUpperCase(), path: `${prefix}${path}` }));
    }
    if (!layer.handle.stack) return [];
    if (layer.slash) return walk(layer.handle.stack, prefix);
    if (typeof layer.rawPath !== 'string') throw new Error('a router is mounted on a non-string path');
    return walk(layer.handle.stack, `${prefix}${layer.rawPath}`);
  });
}

/** /orders/:orderId → /orders/{orderId} */
export function openApiPath(expressPath: string): string {
  if (/[*?()]/.test(expressPath)) throw new Error(`cannot translate ${expressPath} to an OpenAPI path`);
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** A concrete URL for a route: each parameter filled with a harmless value. */
export function samplePath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, (_match, name: string) => (name === 'id' ? '1' : `sample-${name}`));
}
