// One zod schema per process over the environment, parsed once at start. A bad value stops the process
// with a message naming the variable; nothing reads process.env anywhere else.
import { z } from 'zod';
import { parseDurationMs } from '../domain/duration';
import { DEFAULT_ORDER_TASK_QUEUE, GATEWAY_NAMES, type GatewayName } from '../contracts/order.contract';
import {
  LATE_SUCCESS_ACTIONS,
  UNKNOWN_PAYMENT_ACTIONS,
  type LateSuccessAction,
  type UnknownPaymentAction,
} from '../contracts/reconciliation.contract';
import {
  ESEWA_UAT_FORM_URL,
  ESEWA_UAT_PRODUCT_CODE,
  ESEWA_UAT_SECRET_KEY,
  ESEWA_UAT_STATUS_URL,
} from '../gateways/esewa/esewa.protocol';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** A duration field ("30s", "15m", "1h30m") parsed to milliseconds. */
export const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 15m or 1h, got "${text}"` });
        return z.NEVER;
      }
      return ms;
    });

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);
const url = (fallback: string) => z.url().default(fallback);
/** The non-blank, trimmed items of a comma-separated value. */
function splitCommaList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** Comma-separated list, so secrets can be rotated: every listed secret is accepted. */
const secretList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform(splitCommaList)
    .pipe(z.array(z.string()).min(1, 'at least one secret is required'));

/** An optional secret: unset or blank means "not configured", never an empty secret that anything would match. */
const optionalSecret = () =>
  z
    .string()
    .optional()
    .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined))
    .pipe(z.string().min(16, 'must be at least 16 characters').optional());

/**
 * A per-gateway choice: a default, then optional `gateway=value` overrides, e.g. `refund,khalti=accept`.
 * Parsed to a function so every gateway, including ones added later, gets an answer.
 */
const perGatewayChoice = <const T extends readonly [string, ...string[]]>(choices: T, fallback: T[number]) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const parts = splitCommaList(text);
      let defaultChoice: T[number] = fallback;
      const overrides = new Map<string, T[number]>();
      for (const part of parts) {
        const [left, right] = part.includes('=') ? part.split('=', 2) : [undefined, part];
        const value = (right ?? '').trim();
        if (!(choices as readonly string[]).includes(value)) {
          ctx.addIssue({ code: 'custom', message: `"${value}" is not one of ${choices.join(', ')}` });
          return z.NEVER;
        }
        if (left === undefined) defaultChoice = value;
        else if ((GATEWAY_NAMES as readonly string[]).includes(left.trim())) overrides.set(left.trim(), value);
        else {
          ctx.addIssue({ code: 'custom', message: `unknown gateway "${left.trim()}"` });
          return z.NEVER;
        }
      }
      return (gateway: GatewayName): T[number] => overrides.get(gateway) ?? defaultChoice;
    });

/** Comma-separated gateway names; empty means none. */
const gatewayList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform(splitCommaList)
    .pipe(z.array(z.enum(GATEWAY_NAMES)));

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/orderpay';
export const DEFAULT_SANDBOX_URL = 'http://127.0.0.1:12111';
/** The sandbox's well-known test credentials; real deployments set their own. */
export const SANDBOX_STRIPE_SECRET_KEY = 'sk_test_orderpay_sandbox';
export const SANDBOX_STRIPE_WEBHOOK_SECRET = 'whsec_orderpay_sandbox';
export const SANDBOX_KHALTI_SECRET_KEY = 'live_secret_key_orderpay_sandbox';
/** Khalti's own sandbox (KPG-2); production is https://khalti.com/api/v2/. */
export const DEFAULT_KHALTI_BASE_URL = 'https://dev.khalti.com/api/v2/';

/** eSewa ePay v2; the defaults are eSewa's UAT environment and its public test merchant (EPAYTEST). */
const esewaMerchantFields = {
  ESEWA_PRODUCT_CODE: z.string().min(1).default(ESEWA_UAT_PRODUCT_CODE),
  ESEWA_SECRET_KEY: z.string().min(1).default(ESEWA_UAT_SECRET_KEY),
};

const temporalFields = {
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default(DEFAULT_ORDER_TASK_QUEUE),
};
const commonFields = {
  DATABASE_URL: z.string().min(1).default(DEFAULT_DATABASE_URL),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ...temporalFields,
};

/** `production` issues `op_live_` keys and insists on real secrets; anything else issues `op_test_` keys. */
export const orderpayEnvField = z.string().trim().min(1).default('development');

/** The development HMAC key for payer client secrets; production refuses to start with it (or without a key). */
export const DEVELOPMENT_CLIENT_SECRET_KEY = 'orderpay-development-client-secret-key-not-for-production';

export const apiConfigSchema = z
  .object({
    ...commonFields,
    ORDERPAY_ENV: orderpayEnvField,
    /** Registered at start (every merchant scope) unless already known: scripts, CI and containers get a known key. */
    ORDERPAY_BOOTSTRAP_API_KEY: z
      .string()
      .optional()
      .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined))
      .pipe(
        z
          .string()
          .regex(
            /^op_(?:live|test)_[A-Za-z0-9_-]{24,200}$/,
            'must be op_live_ or op_test_ and 24+ letters, digits, _ or -',
          )
          .optional(),
      ),
    /** The HMAC key payer client secrets are derived from (never stored); at least 32 characters. */
    ORDERPAY_CLIENT_SECRET_KEY: z
      .string()
      .optional()
      .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined))
      .pipe(z.string().min(32, 'must be at least 32 characters').optional()),
    PORT: port(3000),
    /** The address payers and gateways reach the API on; used for return and callback URLs. */
    PUBLIC_BASE_URL: url('http://localhost:3000'),
    ORDER_TTL: duration('15m'),
    ORDER_GRACE_PERIOD: duration('1h'),
    POLL_INITIAL_INTERVAL: duration('30s'),
    POLL_BACKOFF_COEFFICIENT: z.coerce.number().min(1).max(10).default(2),
    POLL_MAX_INTERVAL: duration('5m'),
    /** How long POST /orders waits for the gateway intent before answering 503 (the order carries on). */
    CHECKOUT_TIMEOUT: duration('10s'),
    STRIPE_WEBHOOK_SECRETS: secretList(SANDBOX_STRIPE_WEBHOOK_SECRET),
    STRIPE_WEBHOOK_TOLERANCE: duration('300s'),
    /** Bearer token of the admin API; unset (or empty) disables /admin entirely. */
    ADMIN_API_TOKEN: optionalSecret(),
    /** Largest request head (request line and headers) in bytes; larger ones get 431 headers_too_large. */
    HTTP_MAX_HEADER_BYTES: z.coerce.number().int().min(4_096).max(1_048_576).default(16_384),
    /** The window of every public-route rate limit; the limits below count requests within it. */
    RATE_LIMIT_WINDOW: duration('1m'),
    /** Requests per client IP per window on wallet callbacks, the pay page and GET /orders/:id/status. */
    RATE_LIMIT_PER_IP: z.coerce.number().int().positive().default(300),
    /** Requests per order per window on the same routes. */
    RATE_LIMIT_PER_ORDER: z.coerce.number().int().positive().default(120),
    /** Webhooks that fail verification, per client IP per window, before that IP's webhooks get 429. */
    RATE_LIMIT_WEBHOOK_FAILURES_PER_IP: z.coerce.number().int().positive().default(100),
    /** GET /pay/:orderId posts the signed form here; the secret signs it and verifies the success callbacks. */
    ESEWA_FORM_URL: url(ESEWA_UAT_FORM_URL),
    ...esewaMerchantFields,
    /** eSewa asks merchants to use the status API only when no answer came within five minutes. */
    ESEWA_FIRST_STATUS_CHECK: duration('5m'),
  })
  .superRefine((config, ctx) => {
    if (config.ORDERPAY_ENV === 'production' && !config.ORDERPAY_CLIENT_SECRET_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['ORDERPAY_CLIENT_SECRET_KEY'],
        message: 'is required when ORDERPAY_ENV=production',
      });
    }
  });
export type ApiConfig = z.infer<typeof apiConfigSchema>;

export const workerConfigSchema = z.object({
  ...commonFields,
  PUBLIC_BASE_URL: url('http://localhost:3000'),
  STRIPE_API_BASE: url(DEFAULT_SANDBOX_URL),
  STRIPE_SECRET_KEY: z.string().min(1).default(SANDBOX_STRIPE_SECRET_KEY),
  ESEWA_STATUS_URL: url(ESEWA_UAT_STATUS_URL),
  ESEWA_PRODUCT_CODE: esewaMerchantFields.ESEWA_PRODUCT_CODE,
  /** Khalti's ePayment API base, ending in /api/v2/; refunds go to /api/merchant-transaction/ on the same host. */
  KHALTI_BASE_URL: url(DEFAULT_KHALTI_BASE_URL),
  KHALTI_SECRET_KEY: z.string().min(1).default(SANDBOX_KHALTI_SECRET_KEY),
  /** Per-call timeout for gateway HTTP requests; Temporal retries the activity. */
  GATEWAY_TIMEOUT: duration('10s'),
  WORKER_SHUTDOWN_GRACE: duration('10s'),
  /** orderpay's own worker metrics (GET /metrics); 0 picks a free port. */
  WORKER_METRICS_PORT: port(9464),
  /** The Temporal SDK's Prometheus exporter (worker, workflow and activity task metrics); 0 picks a free port. */
  TEMPORAL_SDK_METRICS_PORT: port(9465),
  /** Gateways reconciled on a schedule from their settlement API (the others from uploaded reports). */
  RECONCILIATION_GATEWAYS: gatewayList('stripe'),
  /** How often the schedule runs, and how far back each run reaches (plus the overlap). */
  RECONCILIATION_INTERVAL: duration('1d'),
  RECONCILIATION_OVERLAP: duration('1h'),
  /** A payment that succeeded for an order we closed unpaid: refund it, or accept it as paid. */
  RECONCILIATION_LATE_SUCCESS_ACTION: perGatewayChoice(LATE_SUCCESS_ACTIONS, 'refund' satisfies LateSuccessAction),
  /** A payment that names no order of ours: refund it, or only record it for review. */
  RECONCILIATION_UNKNOWN_PAYMENT_ACTION: perGatewayChoice(
    UNKNOWN_PAYMENT_ACTIONS,
    'refund' satisfies UnknownPaymentAction,
  ),
});
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

export const sandboxConfigSchema = z.object({
  LOG_LEVEL: commonFields.LOG_LEVEL,
  SANDBOX_PORT: port(12111),
  /** Loopback by default; 0.0.0.0 in a container, so the hosted page and API are reachable from outside it. */
  SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Keeps sessions, payments, refunds, idempotency keys and undelivered webhooks across restarts; unset (or empty)
   * keeps them in memory only.
   */
  SANDBOX_STATE_FILE: z
    .string()
    .optional()
    .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined)),
  /** The address payers' browsers reach the sandbox's hosted pages on. */
  SANDBOX_PUBLIC_URL: url(DEFAULT_SANDBOX_URL),
  SANDBOX_API_KEY: z.string().min(1).default(SANDBOX_STRIPE_SECRET_KEY),
  SANDBOX_WEBHOOK_URL: url('http://127.0.0.1:3000/webhooks/stripe'),
  SANDBOX_WEBHOOK_SECRET: z.string().min(1).default(SANDBOX_STRIPE_WEBHOOK_SECRET),
  /** The eSewa merchant the sandbox's eSewa mode knows: the same as eSewa UAT's by default. */
  SANDBOX_ESEWA_PRODUCT_CODE: z.string().min(1).default(ESEWA_UAT_PRODUCT_CODE),
  SANDBOX_ESEWA_SECRET_KEY: z.string().min(1).default(ESEWA_UAT_SECRET_KEY),
  /** Khalti mode: the key clients send as `Authorization: Key <key>`. */
  SANDBOX_KHALTI_SECRET_KEY: z.string().min(1).default(SANDBOX_KHALTI_SECRET_KEY),
  /** Khalti mode: how long a payment link stays payable. */
  SANDBOX_KHALTI_EXPIRY: duration('60m'),
});
export type SandboxConfig = z.infer<typeof sandboxConfigSchema>;

/** Parses the environment with a process's schema, or throws a ConfigError naming every bad variable. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}
