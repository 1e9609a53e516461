// The configuration of `npm start` (scripts/start.ts), parsed once. The three processes keep their own schemas in
// config/env.ts; the supervisor reads the few of their variables it needs to wire them together, with the same
// defaults, by reusing those schemas' fields.
import path from 'node:path';
import { z } from 'zod';
import { apiConfigSchema, ConfigError, duration, port, sandboxConfigSchema, workerConfigSchema } from '../config/env';
import { ORDER_WORKFLOW_TYPE } from '../contracts/order.contract';
import { clusterFrontendPortRange } from './temporal-cluster';

/** Unset and empty both mean "not given": `DATABASE_URL= npm start` should start the embedded PostgreSQL. */
const optionalText = z
  .string()
  .optional()
  .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined));

export const startConfigSchema = z.object({
  /** `npm start` runs the sandbox: development only. */
  ORDERPAY_ENV: apiConfigSchema.shape.ORDERPAY_ENV,
  /** Set: use that Temporal server. Unset: run a dev server with SQLite persistence under the data directory. */
  TEMPORAL_ADDRESS: optionalText,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  /** `--cluster`: the database name of the Temporal server's default store; its visibility store is `<name>_visibility`. */
  TEMPORAL_CLUSTER_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'a lower-case SQL identifier')
    .default('temporal'),
  /** The Temporal server's own log level (dev server or `--cluster`); its info logs drown the application's. */
  TEMPORAL_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'never']).default('error'),
  /** Set: use that PostgreSQL. Unset: run the embedded PostgreSQL from the data directory. */
  DATABASE_URL: optionalText,
  /** Not 5432, so it does not collide with a system PostgreSQL. */
  EMBEDDED_POSTGRES_PORT: port(5433),
  EMBEDDED_POSTGRES_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'a lower-case SQL identifier')
    .default('orderpay'),
  /** Where the dev server's SQLite file, the embedded PostgreSQL cluster and the pid registry live. */
  ORDERPAY_DATA_DIR: z.string().min(1).default('.data'),
  /** How long a child gets after SIGTERM before SIGKILL; longer than the worker's WORKER_SHUTDOWN_GRACE. */
  SUPERVISOR_STOP_TIMEOUT: duration('20s'),
  PORT: apiConfigSchema.shape.PORT,
  API_METRICS_PORT: apiConfigSchema.shape.API_METRICS_PORT,
  SANDBOX_PORT: sandboxConfigSchema.shape.SANDBOX_PORT,
  WORKER_METRICS_PORT: workerConfigSchema.shape.WORKER_METRICS_PORT,
  TEMPORAL_SDK_METRICS_PORT: workerConfigSchema.shape.TEMPORAL_SDK_METRICS_PORT,
});
export type StartConfig = z.infer<typeof startConfigSchema>;

/**
 * `npm start` alone runs one of each process on the embedded Temporal dev server. `npm start -- --cluster` runs the
 * production topology: a Temporal server on PostgreSQL (scripts/temporal-cluster.ts) with its Web UI
 * (scripts/temporal-ui.ts), two API replicas and two workers; `--api-replicas N` and `--workers N` change the counts
 * in either mode.
 */
export interface StartArguments {
  topology: 'embedded' | 'cluster';
  apiReplicas: number;
  workers: number;
}

const replicaCount = z.coerce.number().int().min(1).max(8);

export function parseStartArguments(argv: readonly string[]): StartArguments {
  const cluster = argv.includes('--cluster');
  const valueOf = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    if (index === -1) return undefined;
    const value = argv[index + 1];
    if (value === undefined || value.startsWith('--')) throw new ConfigError(`${flag} needs a number`);
    return value;
  };
  const known = new Set(['--cluster', '--api-replicas', '--workers']);
  const unknown = argv.filter((arg) => arg.startsWith('--') && !known.has(arg));
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown option ${unknown.join(', ')}; npm start takes --cluster, --api-replicas N, --workers N`,
    );
  }
  const count = (flag: string, fallback: number) => {
    const parsed = replicaCount.safeParse(valueOf(flag) ?? fallback);
    if (!parsed.success) throw new ConfigError(`${flag} must be a whole number from 1 to 8`);
    return parsed.data;
  };
  return {
    topology: cluster ? 'cluster' : 'embedded',
    apiReplicas: count('--api-replicas', cluster ? 2 : 1),
    workers: count('--workers', cluster ? 2 : 1),
  };
}

/** What `--cluster` cannot run with, refused before anything starts. */
export function checkClusterConfig(config: StartConfig): void {
  if (config.TEMPORAL_ADDRESS) {
    throw new ConfigError('--cluster runs its own Temporal server; unset TEMPORAL_ADDRESS, or drop --cluster');
  }
  const { min, max } = clusterFrontendPortRange();
  if (config.TEMPORAL_DEV_PORT < min || config.TEMPORAL_DEV_PORT > max) {
    throw new ConfigError(
      `TEMPORAL_DEV_PORT=${config.TEMPORAL_DEV_PORT} cannot be the cluster's frontend port: with --cluster it must be ` +
        `from ${min} to ${max}, because the server's membership ports (TEMPORAL_DEV_PORT − 300 to − 294) are kept ` +
        'in a PostgreSQL smallint column (1 to 32767)',
    );
  }
}

/** orderpay's codec endpoint as the Web UI's browser reaches it, in either start mode. */
export const temporalUiCodecEndpoint = (config: StartConfig) => `http://localhost:${config.PORT}/codec`;

/**
 * The ports of replica `index` (0-based). Replicas are separate processes on separate ports with nothing in front:
 * API n listens on PORT + n, and every replica's metrics port moves by 10 per replica so none collide
 * (API 9463, 9473, …; worker 9464/9465, 9474/9475, …).
 */
export function replicaPorts(config: StartConfig, index: number) {
  const metricsOffset = (base: number) => (base === 0 ? 0 : base + 10 * index);
  return {
    PORT: config.PORT + index,
    API_METRICS_PORT: metricsOffset(config.API_METRICS_PORT),
    WORKER_METRICS_PORT: metricsOffset(config.WORKER_METRICS_PORT),
    TEMPORAL_SDK_METRICS_PORT: metricsOffset(config.TEMPORAL_SDK_METRICS_PORT),
  };
}

export interface StartPaths {
  dataDir: string;
  temporalDb: string;
  /** `--cluster`: where the Temporal server's rendered config lives. */
  clusterDir: string;
  postgresDir: string;
  runDir: string;
  sandboxStateFile: string;
}

export function startPaths(config: StartConfig, root: string): StartPaths {
  const dataDir = path.resolve(root, config.ORDERPAY_DATA_DIR);
  return {
    dataDir,
    temporalDb: path.join(dataDir, 'temporal', 'temporal.db'),
    clusterDir: path.join(dataDir, 'temporal-cluster'),
    postgresDir: path.join(dataDir, 'postgres'),
    runDir: path.join(dataDir, 'run'),
    sandboxStateFile: path.join(dataDir, 'sandbox', 'state.json'),
  };
}

/**
 * The environment the api, worker and sandbox get: the caller's, plus the addresses the supervisor chose, plus the
 * cross-references between the three that follow from PORT and SANDBOX_PORT. A variable the caller set always wins,
 * so this only fills gaps; without it `PORT=4000 npm start` would leave the sandbox posting webhooks to :3000.
 */
export function childEnvironment(
  env: NodeJS.ProcessEnv,
  wiring: {
    config: StartConfig;
    databaseUrl: string;
    temporalAddress: string;
    sandboxStateFile: string;
    /** TEMPORAL_CODEC_KEYS of the api and worker (scripts/dev-codec-key.ts). */
    codecKeys?: string;
  },
): NodeJS.ProcessEnv {
  const { config } = wiring;
  const api = `http://127.0.0.1:${config.PORT}`;
  const sandbox = `http://127.0.0.1:${config.SANDBOX_PORT}`;
  const derived: Record<string, string> = {
    PUBLIC_BASE_URL: `http://localhost:${config.PORT}`,
    STRIPE_API_BASE: sandbox,
    // Every gateway points at the sandbox: its eSewa mode answers at eSewa's own paths.
    ESEWA_FORM_URL: `${sandbox}/api/epay/main/v2/form`,
    ESEWA_STATUS_URL: `${sandbox}/api/epay/transaction/status/`,
    KHALTI_BASE_URL: `${sandbox}/api/v2/`,
    SANDBOX_PUBLIC_URL: sandbox,
    SANDBOX_WEBHOOK_URL: `${api}/webhooks/stripe`,
    // Open orders keep their checkout sessions when `npm start` is restarted.
    SANDBOX_STATE_FILE: wiring.sandboxStateFile,
    // The Web UI (the dev server's, or the cluster's UI server) decodes histories through the API's codec endpoint,
    // from the browser.
    CODEC_CORS_ORIGINS: `http://localhost:${config.TEMPORAL_UI_PORT},http://127.0.0.1:${config.TEMPORAL_UI_PORT}`,
    ...(wiring.codecKeys ? { TEMPORAL_CODEC_KEYS: wiring.codecKeys } : {}),
  };
  const result: NodeJS.ProcessEnv = { ...env };
  for (const [name, value] of Object.entries(derived)) {
    if (!result[name]) result[name] = value;
  }
  result.DATABASE_URL = wiring.databaseUrl;
  result.TEMPORAL_ADDRESS = wiring.temporalAddress;
  result.TEMPORAL_NAMESPACE = config.TEMPORAL_NAMESPACE;
  result.PORT = String(config.PORT);
  result.SANDBOX_PORT = String(config.SANDBOX_PORT);
  return result;
}

/** A Web UI link listing the order workflows, narrowed by an extra visibility-query clause when given. */
export function temporalUiOrdersUrl(uiBase: string, namespace: string, clause?: string): string {
  const query = `WorkflowType="${ORDER_WORKFLOW_TYPE}"${clause ? ` AND ${clause}` : ''}`;
  return `${uiBase}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${encodeURIComponent(query)}`;
}

/** The connection string with any password masked, for logs. */
export function redactDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}
