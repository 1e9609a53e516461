// `npm start`: everything orderpay needs on one machine, in the foreground, stopped by Ctrl-C.
//   PostgreSQL    DATABASE_URL, or an embedded PostgreSQL under .data/postgres
//   Temporal      TEMPORAL_ADDRESS, or a dev server with SQLite in .data/temporal, or with --cluster the Temporal
//                 server on PostgreSQL (scripts/temporal-cluster.ts) with its databases next to orderpay's, and its
//                 Web UI server (scripts/temporal-ui.ts)
//   migrations    once, before the processes start
//   sandbox, worker, api  restarted with backoff when they crash; the sandbox keeps its state in .data/sandbox;
//                 --api-replicas N and --workers N run several api and worker processes (two each with --cluster)
// Shutdown goes the other way: the three processes, then Temporal, then PostgreSQL.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config/env';
import { projectPath, projectRoot } from '../config/paths';
import { migrateToLatest } from '../db/migrate';
import { ensureDevApiKey } from './dev-api-key';
import { devCodecKeys } from './dev-codec-key';
import { connectWhenReady, ensureSearchAttributes, startDevTemporal } from './dev-temporal';
import { startEmbeddedPostgres } from './embedded-postgres';
import {
  checkClusterConfig,
  childEnvironment,
  parseStartArguments,
  redactDatabaseUrl,
  replicaPorts,
  type StartArguments,
  type StartConfig,
  startConfigSchema,
  startPaths,
  temporalUiCodecEndpoint,
  temporalUiOrdersUrl,
} from './start-config';
import { createOutput, DEFAULT_RESTART_POLICY, ManagedProcess, type Output, ProcessRegistry } from './supervisor';
import { findTemporalCli } from './temporal-cli';
import {
  clusterDatabaseOn,
  TEMPORAL_SERVER_VERSION,
  defaultClusterPorts,
  findClusterTools,
  prepareClusterServer,
  initialiseClusterNamespace,
  visibilityDatabase,
} from './temporal-cluster';
import {
  findTemporalUiServer,
  renderUiServerConfig,
  TEMPORAL_UI_SERVER_VERSION,
  writeUiServerConfig,
} from './temporal-ui';

const SERVICES = [
  { name: 'sandbox', entry: 'dist/sandbox/main.js' },
  { name: 'worker', entry: 'dist/worker/main.js' },
  { name: 'api', entry: 'dist/api/main.js' },
] as const;

type Tier = 'services' | 'temporal' | 'postgres';
const STOP_ORDER: readonly Tier[] = ['services', 'temporal', 'postgres'];

/** Everything started so far, by tier, so that any failure or signal stops exactly that, in order. */
class Stack {
  private readonly tiers = new Map<Tier, ManagedProcess[]>(STOP_ORDER.map((tier) => [tier, []]));
  private stopping: Promise<never> | undefined;

  constructor(
    private readonly output: Output,
    private readonly registry: ProcessRegistry,
  ) {}

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  adopt(tier: Tier, managed: ManagedProcess): void {
    this.tiers.get(tier)?.push(managed);
  }

  /** Stops everything in order and exits. Only the first call does anything. */
  shutdown(exitCode: number): Promise<never> {
    this.stopping ??= (async () => {
      for (const tier of STOP_ORDER) {
        const processes = this.tiers.get(tier) ?? [];
        await Promise.all(processes.map((managed) => managed.stop()));
      }
      this.registry.release();
      this.output.log(exitCode === 0 ? 'everything stopped' : `stopped (exit code ${exitCode})`);
      process.exit(exitCode);
    })();
    return this.stopping;
  }

  /** The second Ctrl-C: kill whatever is left and leave now. */
  forceExit(): never {
    for (const tier of STOP_ORDER) for (const managed of this.tiers.get(tier) ?? []) managed.forceKill();
    this.output.log('forced exit: killed what was still running');
    process.exit(130);
  }
}

function probeHttp(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

function probeTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => socket.destroy());
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

async function eventually(probe: () => Promise<boolean>, timeoutMs: number, stack: Stack): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stack.isStopping) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
}

async function provideDatabase(
  config: StartConfig,
  dataDir: string,
  output: Output,
  stack: Stack,
  registry: ProcessRegistry,
) {
  if (config.DATABASE_URL) {
    output.log(`using PostgreSQL at ${redactDatabaseUrl(config.DATABASE_URL)} (DATABASE_URL)`);
    return { databaseUrl: config.DATABASE_URL, embedded: false };
  }
  const started = await startEmbeddedPostgres({
    dataDir,
    port: config.EMBEDDED_POSTGRES_PORT,
    database: config.EMBEDDED_POSTGRES_DATABASE,
    stopTimeoutMs: config.SUPERVISOR_STOP_TIMEOUT,
    output,
    registry,
    onFatal: (reason) => fatal(output, stack, reason),
    adopt: (managed) => stack.adopt('postgres', managed),
  });
  output.log(`embedded PostgreSQL ready on 127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}`);
  return { databaseUrl: started.databaseUrl, embedded: true };
}

async function provideTemporal(
  config: StartConfig,
  dbFile: string,
  output: Output,
  stack: Stack,
  registry: ProcessRegistry,
) {
  if (config.TEMPORAL_ADDRESS) {
    output.log(
      `using Temporal at ${config.TEMPORAL_ADDRESS}, namespace ${config.TEMPORAL_NAMESPACE} (TEMPORAL_ADDRESS)`,
    );
    const connection = await connectWhenReady(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, 15_000);
    try {
      await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE, 'check', output);
    } finally {
      await connection.close();
    }
    return { address: config.TEMPORAL_ADDRESS, devServer: false, webUi: false };
  }
  const started = await startDevTemporal({
    cli: findTemporalCli(),
    dbFile,
    port: config.TEMPORAL_DEV_PORT,
    uiPort: config.TEMPORAL_UI_PORT,
    namespace: config.TEMPORAL_NAMESPACE,
    logLevel: config.TEMPORAL_LOG_LEVEL,
    codecEndpoint: temporalUiCodecEndpoint(config),
    stopTimeoutMs: config.SUPERVISOR_STOP_TIMEOUT,
    output,
    registry,
    onFatal: (reason) => fatal(output, stack, reason),
    adopt: (managed) => stack.adopt('temporal', managed),
  });
  output.log(`Temporal dev server ready on ${started.address}`);
  return { address: started.address, devServer: true, webUi: true };
}

/** `--cluster`: the Temporal server on PostgreSQL, its databases on the same PostgreSQL as orderpay's, and its Web UI. */
async function provideClusterTemporal(
  config: StartConfig,
  databaseUrl: string,
  clusterDir: string,
  output: Output,
  stack: Stack,
  registry: ProcessRegistry,
) {
  const tools = findClusterTools();
  const uiServer = findTemporalUiServer();
  const database = clusterDatabaseOn(databaseUrl, config.TEMPORAL_CLUSTER_DATABASE);
  const plan = await prepareClusterServer({
    tools,
    database,
    ports: defaultClusterPorts(config.TEMPORAL_DEV_PORT),
    rootDir: clusterDir,
    logLevel: config.TEMPORAL_LOG_LEVEL,
    log: output.log,
  });
  const server = new ManagedProcess({
    name: 'temporal',
    command: plan.command,
    args: plan.args,
    stopSignal: 'SIGTERM',
    stopTimeoutMs: config.SUPERVISOR_STOP_TIMEOUT,
    restart: false,
    output,
    registry,
    marker: clusterDir,
    onFatal: (reason) => fatal(output, stack, reason),
  });
  let exited: string | undefined;
  server.onExit((code, signal) => {
    exited ??= signal ? `killed by ${signal}` : `exit code ${code}`;
  });
  stack.adopt('temporal', server);
  server.start();
  await initialiseClusterNamespace({
    address: plan.address,
    namespace: config.TEMPORAL_NAMESPACE,
    log: output.log,
    hasExited: () => exited,
  });
  output.log(
    `Temporal server v${TEMPORAL_SERVER_VERSION} ready on ${plan.address} (PostgreSQL databases ` +
      `${database.database}, ${visibilityDatabase(database)})`,
  );
  if (stack.isStopping) return { address: plan.address, devServer: false, webUi: false };

  const ui = new ManagedProcess({
    name: 'temporal-ui',
    command: uiServer,
    args: writeUiServerConfig(
      clusterDir,
      renderUiServerConfig({
        temporalAddress: plan.address,
        port: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        codecEndpoint: temporalUiCodecEndpoint(config),
        logLevel: config.TEMPORAL_LOG_LEVEL,
      }),
    ),
    stopTimeoutMs: config.SUPERVISOR_STOP_TIMEOUT,
    // It holds no state: a crash costs the operators a reload, not the stack.
    restart: DEFAULT_RESTART_POLICY,
    output,
    registry,
    marker: clusterDir,
    onFatal: (reason) => fatal(output, stack, reason),
  });
  stack.adopt('temporal', ui);
  ui.start();
  const uiReady = await eventually(
    () => probeHttp(`http://127.0.0.1:${config.TEMPORAL_UI_PORT}/healthz`),
    30_000,
    stack,
  );
  output.log(
    uiReady
      ? `Temporal Web UI v${TEMPORAL_UI_SERVER_VERSION} ready on http://localhost:${config.TEMPORAL_UI_PORT}`
      : `warning: the Temporal Web UI did not answer on :${config.TEMPORAL_UI_PORT}/healthz within 30s`,
  );
  return { address: plan.address, devServer: false, webUi: true };
}

function fatal(output: Output, stack: Stack, reason: string): void {
  if (stack.isStopping) return;
  const rule = '!'.repeat(Math.min(100, reason.length + 8));
  output.stderr(`\n${rule}\n!!! ${reason}\n!!! stopping everything\n${rule}\n\n`);
  void stack.shutdown(1);
}

function printBanner(
  output: Output,
  config: StartConfig,
  args: StartArguments,
  wiring: {
    temporalAddress: string;
    devServer: boolean;
    webUi: boolean;
    databaseUrl: string;
    embedded: boolean;
    dataDir: string;
    apiKey: string;
  },
): void {
  const ui = `http://localhost:${config.TEMPORAL_UI_PORT}`;
  const ns = config.TEMPORAL_NAMESPACE;
  const replicas = (count: number) => Array.from({ length: count }, (_, index) => replicaPorts(config, index));
  const apis = replicas(args.apiReplicas);
  const workers = replicas(args.workers);
  const lines = [
    '',
    `orderpay is running (${args.topology === 'cluster' ? 'cluster topology' : 'embedded'}: ` +
      `${args.apiReplicas} API, ${args.workers} worker process${args.workers === 1 ? '' : 'es'})`,
    `  API               ${apis.map((ports) => `http://localhost:${ports.PORT}`).join(', ')}`,
    ...(apis.length > 1
      ? ['                    (separate processes on separate ports, no load balancer; any of them serves any request)']
      : []),
    `  API key           ${wiring.apiKey}`,
    ...(wiring.apiKey.startsWith('op_') ? [`                    export ORDERPAY_KEY=${wiring.apiKey}`] : []),
    `  Sandbox gateway   http://localhost:${config.SANDBOX_PORT}`,
    `  Metrics           ${apis.map((ports) => `http://localhost:${ports.API_METRICS_PORT}/metrics`).join(', ')} (api), ` +
      `${workers.map((ports) => `http://localhost:${ports.WORKER_METRICS_PORT}/metrics`).join(', ')} (worker), ` +
      `${workers.map((ports) => `http://localhost:${ports.TEMPORAL_SDK_METRICS_PORT}/metrics`).join(', ')} (Temporal SDK)`,
    ...(wiring.webUi
      ? [
          `  Temporal Web UI   ${ui} (payloads decoded by ${temporalUiCodecEndpoint(config)})`,
          `    orders          ${temporalUiOrdersUrl(ui, ns)}`,
          `    awaiting pay    ${temporalUiOrdersUrl(ui, ns, 'OrderStatus="AWAITING_PAYMENT"')}`,
          `    need attention  ${temporalUiOrdersUrl(ui, ns, 'NeedsAttention=true')}`,
        ]
      : []),
    `  Temporal          ${wiring.temporalAddress} (namespace ${ns}${
      wiring.devServer ? ', dev server' : args.topology === 'cluster' ? ', server on PostgreSQL' : ''
    })`,
    `  PostgreSQL        ${redactDatabaseUrl(wiring.databaseUrl)}${wiring.embedded ? ' (embedded)' : ''}`,
    ...(wiring.devServer || wiring.embedded ? [`  Data              ${wiring.dataDir}`] : []),
    'Press Ctrl-C to stop (twice to force).',
    '',
  ];
  for (const line of lines) output.log(line);
}

async function main(): Promise<void> {
  const started = Date.now();
  const output = createOutput();
  let config: StartConfig;
  let args: StartArguments;
  try {
    config = loadConfig(startConfigSchema);
    args = parseStartArguments(process.argv.slice(2));
    if (args.topology === 'cluster') checkClusterConfig(config);
  } catch (error) {
    if (error instanceof ConfigError) {
      output.stderr(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  if (config.ORDERPAY_ENV === 'production') {
    output.stderr(
      'npm start runs the sandbox gateway and is for development only; ORDERPAY_ENV=production refuses it\n',
    );
    process.exit(1);
  }
  output.log('development mode: every gateway points at the local sandbox with its test credentials');
  const paths = startPaths(config, projectRoot());
  const registry = new ProcessRegistry(paths.runDir);
  const stack = new Stack(output, registry);

  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      signals += 1;
      if (signals === 1) {
        output.log(`${signal}: stopping (send it again to force)`);
        void stack.shutdown(0);
      } else {
        stack.forceExit();
      }
    });
  }
  process.on('uncaughtException', (error) => {
    output.stderr(`${output.prefix('start')}uncaught error: ${error.stack ?? error.message}\n`);
    if (stack.isStopping) stack.forceExit();
    void stack.shutdown(1);
  });

  try {
    await registry.claim(output.log);
  } catch (error) {
    // Not ours to clean up: the registry belongs to the supervisor that is running.
    output.stderr(`${output.prefix('start')}${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }

  try {
    for (const service of SERVICES) {
      if (!existsSync(projectPath(service.entry))) {
        throw new Error(`${service.entry} is missing; build first (\`npm start\` runs \`npm run build\`)`);
      }
    }

    let database: Awaited<ReturnType<typeof provideDatabase>>;
    let temporal: { address: string; devServer: boolean; webUi: boolean };
    if (args.topology === 'cluster') {
      // Provisioned like the CLI: PATH, .tools/bin, else built with Go (a no-op when everything is there).
      const bootstrap = spawnSync(process.execPath, [projectPath('scripts', 'bootstrap.mjs'), '--cluster'], {
        stdio: 'inherit',
      });
      if (bootstrap.status !== 0) throw new Error('provisioning the Temporal server failed (its message is above)');
      // The cluster keeps its databases on orderpay's PostgreSQL, so that comes first.
      database = await provideDatabase(config, paths.postgresDir, output, stack, registry);
      if (stack.isStopping) return;
      temporal = await provideClusterTemporal(config, database.databaseUrl, paths.clusterDir, output, stack, registry);
    } else {
      // PostgreSQL and Temporal do not depend on each other: start them side by side.
      const [databaseResult, temporalResult] = await Promise.allSettled([
        provideDatabase(config, paths.postgresDir, output, stack, registry),
        provideTemporal(config, paths.temporalDb, output, stack, registry),
      ]);
      if (databaseResult.status === 'rejected') throw databaseResult.reason;
      if (temporalResult.status === 'rejected') throw temporalResult.reason;
      database = databaseResult.value;
      temporal = temporalResult.value;
    }
    if (stack.isStopping) return;

    const migrate = output.prefix('migrate');
    const applied = await migrateToLatest(database.databaseUrl, {
      info: (m) => output.stdout(`${migrate}${m.trimEnd()}\n`),
    });
    output.log(applied.length > 0 ? `applied migrations: ${applied.join(', ')}` : 'database schema is up to date');
    if (stack.isStopping) return;

    const codecKeys = devCodecKeys(process.env, paths.dataDir);
    output.log(`Temporal payloads are encrypted with the key in ${codecKeys.source}`);
    const env = childEnvironment(process.env, {
      config,
      databaseUrl: database.databaseUrl,
      temporalAddress: temporal.address,
      sandboxStateFile: paths.sandboxStateFile,
      codecKeys: codecKeys.value,
    });
    // The development key: the API registers it as its bootstrap key. A key the caller set wins and is not printed.
    const callerKey = env.ORDERPAY_BOOTSTRAP_API_KEY?.trim();
    env.ORDERPAY_BOOTSTRAP_API_KEY = callerKey || ensureDevApiKey(paths.dataDir, env.ORDERPAY_ENV ?? 'development');
    const apiKey = callerKey ? '(ORDERPAY_BOOTSTRAP_API_KEY)' : env.ORDERPAY_BOOTSTRAP_API_KEY;
    // Like .data/temporal and .data/postgres, .data/sandbox exists from the first start (the sandbox would create it
    // on its own as well).
    if (env.SANDBOX_STATE_FILE === paths.sandboxStateFile) {
      mkdirSync(path.dirname(paths.sandboxStateFile), { recursive: true });
    }
    const counts: Record<(typeof SERVICES)[number]['name'], number> = {
      sandbox: 1,
      worker: args.workers,
      api: args.apiReplicas,
    };
    for (const service of SERVICES) {
      const entry = projectPath(service.entry);
      for (let index = 0; index < counts[service.name]; index += 1) {
        const ports = replicaPorts(config, index);
        const replicaEnv =
          service.name === 'api'
            ? { ...env, PORT: String(ports.PORT), API_METRICS_PORT: String(ports.API_METRICS_PORT) }
            : service.name === 'worker'
              ? {
                  ...env,
                  WORKER_METRICS_PORT: String(ports.WORKER_METRICS_PORT),
                  TEMPORAL_SDK_METRICS_PORT: String(ports.TEMPORAL_SDK_METRICS_PORT),
                }
              : env;
        const managed = new ManagedProcess({
          name: counts[service.name] > 1 ? `${service.name}-${index + 1}` : service.name,
          command: process.execPath,
          args: [entry],
          env: replicaEnv,
          cwd: projectRoot(),
          stopTimeoutMs: config.SUPERVISOR_STOP_TIMEOUT,
          restart: DEFAULT_RESTART_POLICY,
          output,
          registry,
          marker: entry,
          onFatal: (reason) => fatal(output, stack, reason),
        });
        stack.adopt('services', managed);
        managed.start();
      }
    }

    const apiUrls = Array.from({ length: args.apiReplicas }, (_, index) => replicaPorts(config, index).PORT);
    const [apiReady, sandboxReady] = await Promise.all([
      Promise.all(
        apiUrls.map((apiPort) => eventually(() => probeHttp(`http://127.0.0.1:${apiPort}/readyz`), 60_000, stack)),
      ).then((ready) => ready.every(Boolean)),
      eventually(() => probeTcp(config.SANDBOX_PORT), 60_000, stack),
    ]);
    if (stack.isStopping) return;
    if (!apiReady) output.log(`warning: not every API reported ready on /readyz within 60s`);
    if (!sandboxReady) output.log(`warning: the sandbox did not accept connections within 60s`);
    printBanner(output, config, args, {
      temporalAddress: temporal.address,
      devServer: temporal.devServer,
      webUi: temporal.webUi,
      databaseUrl: database.databaseUrl,
      embedded: database.embedded,
      dataDir: path.relative(process.cwd(), paths.dataDir) || '.',
      apiKey,
    });
    output.log(`started in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (error) {
    if (stack.isStopping) return;
    output.stderr(`${output.prefix('start')}failed: ${error instanceof Error ? error.message : String(error)}\n`);
    await stack.shutdown(1);
  }
}

void main();
