// The production topology's Temporal server on this machine: `temporal-server` (go.temporal.io/server, built by
// scripts/bootstrap.mjs --cluster) on PostgreSQL, its default and visibility schemas set up by the official
// `temporal-sql-tool` from the schema files of the same module, with SQL visibility and the dynamic config that
// docker-compose.yml mounts (ops/temporal/dynamicconfig/orderpay.yaml). `npm start -- --cluster` and the chaos run
// (scripts/chaos/) start it; docker-compose.yml runs the same version's images with the same schema steps.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import pg from 'pg';
import { projectPath } from '../config/paths';
import {
  connectWhenReady,
  ensureSearchAttributes,
  ORDER_SEARCH_ATTRIBUTES,
  planSearchAttributes,
} from './dev-temporal';
import type { Output } from './supervisor';

/** The server version bootstrap builds; docker-compose.yml's image tags default to the same. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
/** The dynamic config of every Temporal server orderpay runs against outside the dev server. */
export const CLUSTER_DYNAMIC_CONFIG = projectPath('ops', 'temporal', 'dynamicconfig', 'orderpay.yaml');
/** What docker-compose.yml's temporal-setup gives the namespace it creates. */
export const NAMESPACE_RETENTION_MS = 72 * 3_600_000;

export interface ClusterTools {
  server: string;
  sqlTool: string;
  /** The module's schema/postgresql/v12, with temporal/versioned and visibility/versioned inside. */
  schemaDir: string;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The explicit path when one is given (and nothing else), else the first on PATH, else .tools/bin. */
export function findExecutable(name: string, explicit: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  const onPath = (env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, name));
  return [...onPath, projectPath('.tools', 'bin', name)].find(isExecutable);
}

/** Where bootstrap copies the module's PostgreSQL schema files. */
export function bundledSchemaDir(): string {
  return projectPath('.tools', 'share', `temporal-server-v${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
}

/** The same order as bootstrap: TEMPORAL_SERVER_PATH / TEMPORAL_SQL_TOOL_PATH, then PATH, then .tools/bin. */
export function findClusterTools(env: NodeJS.ProcessEnv = process.env): ClusterTools {
  const server = findExecutable('temporal-server', env.TEMPORAL_SERVER_PATH, env);
  const sqlTool = findExecutable('temporal-sql-tool', env.TEMPORAL_SQL_TOOL_PATH, env);
  const schemaDir = env.TEMPORAL_SCHEMA_DIR || bundledSchemaDir();
  const schemaPresent = existsSync(path.join(schemaDir, 'temporal', 'versioned'));
  if (!server || !sqlTool || !schemaPresent) {
    const missing = [
      ...(server ? [] : ['temporal-server']),
      ...(sqlTool ? [] : ['temporal-sql-tool']),
      ...(schemaPresent ? [] : [`the PostgreSQL schema files (${schemaDir})`]),
    ];
    throw new Error(
      `The Temporal server for the cluster topology is not provisioned (missing: ${missing.join(', ')}). Run ` +
        '`npm run bootstrap -- --cluster` (it builds them with Go: `go install ' +
        `go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION} go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}\`), ` +
        'or set TEMPORAL_SERVER_PATH, TEMPORAL_SQL_TOOL_PATH and TEMPORAL_SCHEMA_DIR.',
    );
  }
  return { server, sqlTool, schemaDir };
}

export interface ClusterDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The default store; the visibility store is `<database>_visibility`, as in docker-compose.yml. */
  database: string;
}

export const visibilityDatabase = (database: ClusterDatabase) => `${database.database}_visibility`;

/** Temporal's databases live on the PostgreSQL server of orderpay's own database (as in docker-compose.yml). */
export function clusterDatabaseOn(databaseUrl: string, database: string): ClusterDatabase {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname || '127.0.0.1',
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username || 'postgres'),
    password: decodeURIComponent(url.password),
    database,
  };
}

function adminUrl(database: ClusterDatabase, name = 'postgres'): string {
  const url = new URL('postgres://localhost');
  url.hostname = database.host;
  url.port = String(database.port);
  url.username = database.user;
  url.password = database.password;
  url.pathname = `/${name}`;
  return url.toString();
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`${path.basename(command)} ${args.join(' ')} failed (exit ${code}):\n${output}`)),
    );
  });
}

/**
 * What docker-compose.yml's temporal-schema job does, with the same tool and files: create the two databases when
 * missing, then `setup-schema -v 0.0` and `update-schema` to the newest version. Safe on every start.
 */
export async function setupClusterSchemas(
  tools: ClusterTools,
  database: ClusterDatabase,
  log: (message: string) => void,
): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl(database) });
  await admin.connect();
  let existing: Set<string>;
  try {
    const names = [database.database, visibilityDatabase(database)];
    const found = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [
      names,
    ]);
    existing = new Set(found.rows.map((row) => row.datname));
  } finally {
    await admin.end();
  }
  const connectionFlags = [
    '--plugin',
    'postgres12',
    '--endpoint',
    database.host,
    '--port',
    String(database.port),
    '--user',
    database.user,
    ...(database.password ? ['--password', database.password] : []),
  ];
  const env = { ...process.env, SQL_PASSWORD: database.password };
  for (const [name, schema] of [
    [database.database, 'temporal'],
    [visibilityDatabase(database), 'visibility'],
  ] as const) {
    const flags = [...connectionFlags, '--database', name];
    if (!existing.has(name)) {
      await run(tools.sqlTool, [...flags, 'create-database'], env);
      log(`created database ${name}`);
    }
    await run(tools.sqlTool, [...flags, 'setup-schema', '-v', '0.0'], env);
    await run(tools.sqlTool, [...flags, 'update-schema', '-d', path.join(tools.schemaDir, schema, 'versioned')], env);
  }
  log(`Temporal schemas up to date in ${database.database} and ${visibilityDatabase(database)}`);
}

export interface ClusterPorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  frontendMembership: number;
  historyMembership: number;
  matchingMembership: number;
  workerMembership: number;
}

/**
 * The server's own defaults (config/development-postgres12.yaml: 7233 frontend, 7234 history, 7235 matching, 7239
 * worker, 7243 HTTP, 69xx membership), moved together when the frontend moves so a second cluster never collides.
 */
export function defaultClusterPorts(frontend = 7233): ClusterPorts {
  return {
    frontend,
    frontendHttp: frontend + 10,
    history: frontend + 1,
    matching: frontend + 2,
    worker: frontend + 6,
    frontendMembership: frontend - 300,
    historyMembership: frontend - 299,
    matchingMembership: frontend - 298,
    workerMembership: frontend - 294,
  };
}

/** PostgreSQL's SMALLINT: the server's schema keeps membership ports in one (cluster_membership.rpc_port). */
const MAX_MEMBERSHIP_PORT = 32_767;

/**
 * The frontend ports defaultClusterPorts can move to: every port it derives is a TCP port, and every membership port
 * fits the schema's SMALLINT, which a server on a higher frontend port could not record.
 */
export function clusterFrontendPortRange(): { min: number; max: number } {
  const offsets = defaultClusterPorts(0);
  const membership = [
    offsets.frontendMembership,
    offsets.historyMembership,
    offsets.matchingMembership,
    offsets.workerMembership,
  ];
  const all = Object.values(offsets);
  return {
    min: 1 - Math.min(...all),
    max: Math.min(MAX_MEMBERSHIP_PORT - Math.max(...membership), 65_535 - Math.max(...all)),
  };
}

/** A YAML scalar for any text: JSON's string form is valid YAML. */
export const yamlString = (text: string) => JSON.stringify(text);

/** The server's static config: development-postgres12.yaml's shape, on loopback, without archival or metrics. */
export function renderServerConfig(options: {
  database: ClusterDatabase;
  ports: ClusterPorts;
  dynamicConfigFile: string;
  logLevel: string;
  /**
   * Connections per store and per service: the server's four services (frontend, history, matching, worker) run in
   * one process but each opens its own pools, so the server may hold 4 × (default + visibility) connections.
   */
  maxConnections?: { default: number; visibility: number };
}): string {
  const { database, ports } = options;
  const maxConnections = options.maxConnections ?? { default: 10, visibility: 2 };
  const store = (name: string, maxConns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${yamlString(name)}
        connectAddr: ${yamlString(`${database.host}:${database.port}`)}
        connectProtocol: tcp
        user: ${yamlString(database.user)}
        password: ${yamlString(database.password)}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
  const service = (grpcPort: number, membershipPort: number, httpPort?: number) => `
    rpc:
      grpcPort: ${grpcPort}
      membershipPort: ${membershipPort}
      bindOnLocalHost: true${httpPort === undefined ? '' : `\n      httpPort: ${httpPort}`}`;
  return `# Written by scripts/temporal-cluster.ts on every start; edit that file, not this one.
log:
  stdout: true
  level: ${options.logLevel}

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  # Fixed for the life of the database; 4 as in the server's development config.
  numHistoryShards: 4
  datastores:
    postgres-default:${store(database.database, maxConnections.default)}
    postgres-visibility:${store(visibilityDatabase(database), maxConnections.visibility)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1

services:
  frontend:${service(ports.frontend, ports.frontendMembership, ports.frontendHttp)}
  history:${service(ports.history, ports.historyMembership)}
  matching:${service(ports.matching, ports.matchingMembership)}
  worker:${service(ports.worker, ports.workerMembership)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: ${yamlString(`127.0.0.1:${ports.frontend}`)}

dcRedirectionPolicy:
  policy: noop

archival:
  history:
    state: disabled
  visibility:
    state: disabled

namespaceDefaults:
  archival:
    history:
      state: disabled
    visibility:
      state: disabled

dynamicConfigClient:
  filepath: ${yamlString(options.dynamicConfigFile)}
  pollInterval: 10s
`;
}

/** Writes the config where `temporal-server --root <dir> --config config --env orderpay start` reads it. */
export function writeServerConfig(rootDir: string, config: string): string[] {
  mkdirSync(path.join(rootDir, 'config'), { recursive: true });
  writeFileSync(path.join(rootDir, 'config', 'orderpay.yaml'), config);
  return ['--root', rootDir, '--config', 'config', '--env', 'orderpay', '--allow-no-auth', 'start'];
}

/**
 * The server creates no namespace (docker-compose.yml's temporal-setup does, with the CLI): register it with the same
 * retention when it is missing.
 */
export async function ensureNamespace(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (error) {
    if ((error as { code?: number }).code !== 5) throw error; // NOT_FOUND
  }
  await connection.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs(NAMESPACE_RETENTION_MS),
  });
  return true;
}

export interface ClusterServerPlan {
  command: string;
  args: string[];
  address: string;
}

/** Sets up the schemas, writes the config and says how to run the server; the caller owns the process. */
export async function prepareClusterServer(options: {
  tools: ClusterTools;
  database: ClusterDatabase;
  ports: ClusterPorts;
  rootDir: string;
  logLevel: string;
  maxConnections?: { default: number; visibility: number };
  log: (message: string) => void;
}): Promise<ClusterServerPlan> {
  await setupClusterSchemas(options.tools, options.database, options.log);
  const config = renderServerConfig({
    database: options.database,
    ports: options.ports,
    dynamicConfigFile: CLUSTER_DYNAMIC_CONFIG,
    // The server knows no "never"; fatal is its quietest.
    logLevel: options.logLevel === 'never' ? 'fatal' : options.logLevel,
    ...(options.maxConnections ? { maxConnections: options.maxConnections } : {}),
  });
  return {
    command: options.tools.server,
    args: writeServerConfig(options.rootDir, config),
    address: `127.0.0.1:${options.ports.frontend}`,
  };
}

/** The namespace the server registers itself, so a fresh cluster can be asked whether it is up. */
export const SYSTEM_NAMESPACE = 'temporal-system';

/**
 * Readies a fresh (or restarted) cluster for orderpay: the namespace, then the search attributes. The frontend serves
 * a new namespace only once its namespace cache refreshes (system.namespaceCacheRefreshInterval, 2s), and the
 * attributes likewise, so both steps retry until the server lists every attribute.
 */
export async function initialiseClusterNamespace(options: {
  address: string;
  namespace: string;
  log: (message: string) => void;
  hasExited?: () => string | undefined;
  timeoutMs?: number;
}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const system = await connectWhenReady(options.address, SYSTEM_NAMESPACE, timeoutMs, options.hasExited);
  try {
    if (await ensureNamespace(system, options.namespace)) options.log(`registered namespace ${options.namespace}`);
    const deadline = Date.now() + 60_000;
    const quiet = { ...silentOutput, log: options.log };
    for (;;) {
      try {
        await ensureSearchAttributes(system, options.namespace, 'register', quiet);
        const { customAttributes } = await system.operatorService.listSearchAttributes({
          namespace: options.namespace,
        });
        const plan = planSearchAttributes(ORDER_SEARCH_ATTRIBUTES, (customAttributes ?? {}) as Record<string, number>);
        if (plan.missing.length === 0) return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) throw new Error(`search attributes of ${options.namespace} never appeared`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await system.close();
  }
}

const silentOutput: Output = {
  prefix: () => '',
  stdout: () => undefined,
  stderr: () => undefined,
  log: () => undefined,
};
