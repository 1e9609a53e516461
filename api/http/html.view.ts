// The few HTML pages the API shows payers' browsers (the eSewa form, callback results and honest errors).
// Every value is escaped; pages are never cached, since they describe a moment of an order.
import type { Request, Response } from 'express';
import type { ApiError } from './errors';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** `body` must already be HTML with every value escaped. */
export function sendHtmlPage(res: Response, status: number, title: string, body: string): void {
  res
    .status(status)
    .setHeader('Cache-Control', 'no-store')
    .setHeader('Referrer-Policy', 'no-referrer')
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" ` +
        `content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head>` +
        `<body style="font-family:sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem">` +
        `<h1>${escapeHtml(title)}</h1>${body}</body></html>`,
    );
}

export function paragraph(text: string): string {
  return `<p>${escapeHtml(text)}</p>`;
}

/**
 * A refusal on a browser-facing route: a page for a browser that asks for HTML, the one error shape (thrown to the
 * error handler) for anything else, such as an API client or a script.
 */
export function sendErrorPage(req: Request, res: Response, error: ApiError, title: string, body: string): void {
  if (req.accepts(['json', 'html']) !== 'html') throw error;
  res.locals.errorCode = error.code;
  sendHtmlPage(res, error.status, title, body);
}

/** Where a payer's browser may be sent or linked: only an absolute http(s) URL, never a script or data URL. */
export function isWebUrl(text: string | null): text is string {
  if (text === null) return false;
  try {
    const { protocol } = new URL(text);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}
