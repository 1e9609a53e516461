// Security headers on every response (helmet), with one Content-Security-Policy for the API's few HTML pages:
// scripts and styles from this origin only (Swagger UI at /docs is served from node_modules, no CDN), the eSewa
// page's one inline submit script allowed by its hash, and forms allowed to post here and to eSewa's form URL only.
// JSON answers get the same headers; a browser that renders one as a page gets nothing to run.
import helmet from 'helmet';
import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiConfig } from '../../config/env';

/** The eSewa page (GET /pay/:orderId) submits its signed form itself; this exact script is allowed by hash. */
export const ESEWA_AUTO_SUBMIT_SCRIPT = "document.getElementById('esewa').submit();";
const scriptHash = (script: string) => `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`;

export function securityHeaders(config: Pick<ApiConfig, 'ESEWA_FORM_URL' | 'PUBLIC_BASE_URL'>): RequestHandler {
  const esewaOrigin = new URL(config.ESEWA_FORM_URL).origin;
  const https = new URL(config.PUBLIC_BASE_URL).protocol === 'https:';
  return helmet({
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'", scriptHash(ESEWA_AUTO_SUBMIT_SCRIPT)],
        'form-action': ["'self'", esewaOrigin],
        'frame-ancestors': ["'none'"],
        'img-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        // Served over plain HTTP (development), upgrading would send the sandbox form post to https and break it.
        'upgrade-insecure-requests': https ? [] : null,
      },
    },
    frameguard: { action: 'deny' },
    // Payers come back from eSewa and Khalti through redirects; no referrer leaks order URLs to them or anyone.
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  });
}
