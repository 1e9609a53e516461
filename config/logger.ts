// Structured JSON logs (pino). Callers log IDs and states; this module is the safety net for everything else:
// every log object (bindings, fields, errors at any depth) and every message passes through `scrubLogValue`,
// which replaces sensitive fields by name and masks card numbers, emails, phone numbers and credentials inside
// any string. Nothing reaches the output without passing it.
import pino from 'pino';

export type Logger = pino.Logger;

export const REDACTED = '[redacted]';

/**
 * Field names whose values are never logged, at any depth, compared without case, `-` or `_`
 * (`Stripe-Signature`, `stripe_signature` and `stripeSignature` are the same). Customer objects go whole.
 */
const SENSITIVE_KEYS = new Set(
  [
    // credentials and signatures
    'authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'password',
    'secret',
    'secrets',
    'secret_key',
    'api_key',
    'x-api-key',
    'token',
    'access_token',
    'refresh_token',
    'client_secret',
    'signature',
    'stripe-signature',
    'webhook_secret',
    // raw payloads: they carry whatever the sender put in them
    'raw_body',
    'payload',
    // customer contact data
    'customer',
    'customer_info',
    'customer_name',
    'customer_email',
    'customer_phone',
    'payer',
    'billing_details',
    'shipping',
    'receipt_email',
    'email',
    'phone',
    'mobile',
    'full_name',
    'first_name',
    'last_name',
    // card data, should a gateway ever echo it
    'card',
    'card_number',
    'pan',
    'cvc',
    'cvv',
  ].map(normalizeKey),
);

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/** 13–19 digits, optionally grouped by single spaces or dashes, not part of a longer number. */
const CARD_CANDIDATE = /(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])/g;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
/** International phone numbers: a `+`, then 8–15 digits in the usual groupings. */
const PHONE = /\+\d(?:[ ().-]{0,2}\d){7,14}/g;
const CREDENTIALS = [
  /\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi,
  // Khalti's `Authorization: Key <key>` and its key format.
  /\bKey\s+[A-Za-z0-9_]{8,}/g,
  /\b(?:live|test)_(?:secret|public)_key_[A-Za-z0-9_]+/g,
  /\b(?:sk|rk|pk|whsec)_(?:test_|live_)?[A-Za-z0-9_]{6,}/g,
  // orderpay's own API keys (op_live_…, op_test_…) and the secret half of a payer's client secret.
  /\bop_(?:live|test)_[A-Za-z0-9_-]{8,}/g,
  /_secret_[A-Za-z0-9_-]{16,}/g,
  // The signature part of a Stripe-Signature header (t=…,v1=…).
  /\bv[01]=[0-9a-f]{16,}/g,
];

/** The Luhn checksum every card number satisfies (and only ~10% of other digit strings). */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
/** Double and triple encoding (`%2540`) is decoded too; deeper nesting is not a real request. */
const MAX_DECODE_ROUNDS = 3;

/**
 * Text as a person would read it: percent-encoded runs (`4242%204242…`, `%40`, `%2B`) decoded, so the patterns
 * below see the card number, email or phone a path or query carries. A run that is not valid UTF-8 stays encoded.
 */
function percentDecoded(text: string): string {
  let decoded = text;
  for (let round = 0; round < MAX_DECODE_ROUNDS && decoded.includes('%'); round += 1) {
    const next = decoded.replace(PERCENT_RUN, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
    if (next === decoded) break;
    decoded = next;
  }
  return decoded;
}

/** Masks card-like numbers, emails, phone numbers and credentials inside free text, encoded or not. */
export function scrubText(text: string): string {
  let scrubbed = percentDecoded(text).replace(CARD_CANDIDATE, (candidate) =>
    passesLuhn(candidate.replace(/[ -]/g, '')) ? '[redacted:card]' : candidate,
  );
  scrubbed = scrubbed.replace(EMAIL, '[redacted:email]').replace(PHONE, '[redacted:phone]');
  for (const pattern of CREDENTIALS) scrubbed = scrubbed.replace(pattern, '[redacted:credential]');
  return scrubbed;
}

const MAX_DEPTH = 8;

/** A copy of `value` safe to log: sensitive fields replaced, strings scrubbed, errors made plain objects. */
export function scrubLogValue(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  seen.add(value);
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (Array.isArray(value)) return value.map((item) => scrubLogValue(item, depth + 1, seen));
  if (value instanceof Error) return scrubError(value, depth, seen);
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = scrubField(key, field, depth, seen);
  return copy;
}

function scrubField(key: string, field: unknown, depth: number, seen: WeakSet<object>): unknown {
  return SENSITIVE_KEYS.has(normalizeKey(key)) ? REDACTED : scrubLogValue(field, depth + 1, seen);
}

/**
 * A scrubbed copy that is still an error of the same class, so pino's error serializer names its type and walks
 * its causes as usual.
 */
function scrubError(error: Error, depth: number, seen: WeakSet<object>): Error {
  const copy = Object.create(Object.getPrototypeOf(error) as object) as Error;
  for (const [key, field] of Object.entries(error)) {
    (copy as unknown as Record<string, unknown>)[key] = scrubField(key, field, depth, seen);
  }
  Object.defineProperty(copy, 'message', { value: scrubText(error.message), enumerable: false, writable: true });
  Object.defineProperty(copy, 'stack', { value: scrubText(error.stack ?? ''), enumerable: false, writable: true });
  if (error.cause !== undefined) {
    Object.defineProperty(copy, 'cause', {
      value: scrubLogValue(error.cause, depth + 1, seen),
      enumerable: false,
      writable: true,
    });
  }
  return copy;
}

export function createLogger(name: string, level: string = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { service: name },
    formatters: {
      bindings: (bindings) => scrubLogValue(bindings) as Record<string, unknown>,
      log: (object) => scrubLogValue(object) as Record<string, unknown>,
    },
    hooks: {
      // The message and any printf-style arguments; the object argument goes through formatters.log.
      logMethod(args, method) {
        const scrubbed = args.map((arg) => (typeof arg === 'string' ? scrubText(arg) : arg));
        return method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
  const logger = destination ? pino(options, destination) : pino(options);
  // pino writes child bindings without the formatters; children are created from their parent's prototype chain,
  // so replacing `child` here covers every descendant.
  const child = logger.child;
  logger.child = function scrubbedChild(this: Logger, bindings, childOptions) {
    return child.call(this, scrubLogValue(bindings) as pino.Bindings, childOptions);
  } as typeof logger.child;
  return logger;
}

/** What is safe to log about an error: never driver `detail` fields, which can echo row values. */
export function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { value: typeof error };
  const { code } = error as { code?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    stack: error.stack,
    ...(error.cause instanceof Error ? { cause: describeError(error.cause) } : {}),
  };
}
