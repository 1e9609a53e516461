// The headers of every hosted page the sandbox serves: never cached, no script at all (the redirect after a form post
// must stay free to leave for the merchant's site), never framed.
import type { NextFunction, Request, Response } from 'express';

export function hostedPageHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
  });
  next();
}
