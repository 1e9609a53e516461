// "Storable text": what PostgreSQL can store and a gateway's encoder can send. PostgreSQL refuses NUL in text and
// `\u0000` in jsonb (an error that surfaced as a 5xx), and a lone UTF-16 surrogate is not Unicode, so no encoder
// can send it. One refinement for every schema at the edge: HTTP bodies, path and query parameters, webhook events
// and wallet callbacks are refused with a 400 naming the field before anything is stored or sent.
import { z } from 'zod';

export const STORABLE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/** A NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/** Nested values are walked to this depth at most; zod's own schemas bound what is accepted beyond it. */
const MAX_DEPTH = 32;

/** The path of the first unstorable string (or object key) inside `value`, or undefined when all are storable. */
export function findUnstorableText(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : path;
  if (typeof value !== 'object' || value === null || path.length > MAX_DEPTH) return undefined;
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index): [number, unknown] => [index, item])
    : Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof key === 'string' && !isStorableText(key)) return [...path, key];
    const found = findUnstorableText(item, [...path, key]);
    if (found) return found;
  }
  return undefined;
}

/** A string field that must be storable. */
export const storableText = z.string().refine(isStorableText, STORABLE_TEXT_MESSAGE);

/**
 * Every string anywhere in the input (keys included) must be storable; then `schema` decides the rest. Only the
 * storable-text problem is reported when there is one, naming its field.
 */
export function withStorableText<S extends z.ZodType>(schema: S) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      const path = findUnstorableText(value);
      if (path) ctx.addIssue({ code: 'custom', path, message: STORABLE_TEXT_MESSAGE, abort: true });
    })
    .pipe(schema);
}
