// The Temporal side of `npm start`: a dev server with SQLite persistence when TEMPORAL_ADDRESS is unset, and in
// both cases a check that the order search attributes exist before the worker starts upserting them.
import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { orderSearchAttributes } from '../contracts/order.contract';
import { SEARCH_ATTRIBUTE_FLAGS } from './search-attributes';
import { reconciliationSearchAttributes } from '../contracts/reconciliation.contract';
import { ManagedProcess, type Output, type ProcessRegistry } from './supervisor';

export interface WantedSearchAttribute {
  name: string;
  /** The IndexedValueType enum value. */
  type: number;
}

/** Every custom attribute orderpay upserts: the orders' and the reconciliation runs'. */
export const ORDER_SEARCH_ATTRIBUTES: readonly WantedSearchAttribute[] = [
  ...Object.values(orderSearchAttributes),
  ...Object.values(reconciliationSearchAttributes),
].map((key) => ({ name: key.name, type: encodeSearchAttributeIndexedValueType(key.type) ?? 0 }));

export interface SearchAttributePlan {
  missing: WantedSearchAttribute[];
  conflicting: Array<{ name: string; wanted: number; actual: number }>;
}

/** Compares the attributes we need with the namespace's custom attributes (name → IndexedValueType). */
export function planSearchAttributes(
  wanted: readonly WantedSearchAttribute[],
  existing: Readonly<Record<string, number>>,
): SearchAttributePlan {
  const plan: SearchAttributePlan = { missing: [], conflicting: [] };
  for (const attribute of wanted) {
    const actual = existing[attribute.name];
    if (actual === undefined) plan.missing.push(attribute);
    else if (actual !== attribute.type) plan.conflicting.push({ name: attribute.name, wanted: attribute.type, actual });
  }
  return plan;
}

const TYPE_NAMES = new Map(
  (['TEXT', 'KEYWORD', 'INT', 'DOUBLE', 'BOOL', 'DATETIME', 'KEYWORD_LIST'] as const).map((name) => [
    encodeSearchAttributeIndexedValueType(name),
    name,
  ]),
);
const typeName = (type: number) => TYPE_NAMES.get(type) ?? `type ${type}`;

/**
 * Makes sure the order search attributes exist. `register`: add the missing ones (our own dev server).
 * Otherwise report them: on a real cluster registering is an operator's decision (scripts/create-search-attributes.sh).
 */
export async function ensureSearchAttributes(
  connection: Connection,
  namespace: string,
  mode: 'register' | 'check',
  output: Output,
): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const plan = planSearchAttributes(ORDER_SEARCH_ATTRIBUTES, (customAttributes ?? {}) as Record<string, number>);
  if (plan.conflicting.length > 0) {
    const details = plan.conflicting
      .map((c) => `${c.name} is ${typeName(c.actual)}, orderpay needs ${typeName(c.wanted)}`)
      .join('; ');
    throw new Error(
      `search attributes in namespace ${namespace} have the wrong type: ${details}. A type cannot be changed in ` +
        'place; for the dev server, delete the data directory’s temporal/ folder (this loses its workflows).',
    );
  }
  if (plan.missing.length === 0) return;
  const names = plan.missing.map((attribute) => attribute.name).join(', ');
  if (mode === 'check') {
    throw new Error(
      `namespace ${namespace} lacks the search attributes ${names}; register them with ` +
        '`TEMPORAL_ADDRESS=… TEMPORAL_NAMESPACE=… scripts/create-search-attributes.sh` (see docs/operations.md)',
    );
  }
  // The dev server applies --search-attribute only when it creates its database file, so attributes added to the
  // contract later reach an existing .data/temporal/temporal.db only this way.
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(plan.missing.map((attribute) => [attribute.name, attribute.type])),
  });
  output.log(`registered search attributes ${names}`);
}

/** Connects, retrying until the server answers; gives up early when `hasExited` says the server process died. */
export async function connectWhenReady(
  address: string,
  namespace: string,
  timeoutMs: number,
  hasExited: () => string | undefined = () => undefined,
): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const exited = hasExited();
    if (exited) throw new Error(`the Temporal dev server exited while starting (${exited}); its log is above`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        // The namespace is registered a moment after the frontend starts answering.
        await connection.workflowService.describeNamespace({ namespace });
        return connection;
      } catch (error) {
        await connection.close();
        throw error;
      }
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(
    `Temporal at ${address} (namespace ${namespace}) did not answer within ${timeoutMs / 1000}s: ${reason}`,
  );
}

export interface DevTemporalOptions {
  cli: string;
  dbFile: string;
  port: number;
  uiPort: number;
  namespace: string;
  logLevel: string;
  /** The codec server the Web UI decodes payloads with (orderpay's API: <api>/codec). */
  codecEndpoint?: string;
  stopTimeoutMs: number;
  output: Output;
  registry: ProcessRegistry;
  onFatal(reason: string): void;
  /** Told about the process before it starts, so a shutdown during startup stops it too. */
  adopt(process: ManagedProcess): void;
}

export interface RunningTemporal {
  process: ManagedProcess;
  address: string;
}

export function devServerArgs(
  options: Pick<DevTemporalOptions, 'dbFile' | 'port' | 'uiPort' | 'namespace' | 'logLevel' | 'codecEndpoint'>,
): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--db-filename',
    options.dbFile,
    '--namespace',
    options.namespace,
    ...SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
    '--log-level',
    options.logLevel,
    ...(options.codecEndpoint ? ['--ui-codec-endpoint', options.codecEndpoint] : []),
  ];
}

export async function startDevTemporal(options: DevTemporalOptions): Promise<RunningTemporal> {
  mkdirSync(path.dirname(options.dbFile), { recursive: true });
  const server = new ManagedProcess({
    name: 'temporal',
    command: options.cli,
    args: devServerArgs(options),
    stopSignal: 'SIGTERM',
    stopTimeoutMs: options.stopTimeoutMs,
    restart: false,
    output: options.output,
    registry: options.registry,
    marker: options.dbFile,
    onFatal: options.onFatal,
  });
  let exited: string | undefined;
  server.onExit((code, signal) => {
    exited ??= signal ? `killed by ${signal}` : `exit code ${code}`;
  });
  options.adopt(server);
  server.start();
  const address = `127.0.0.1:${options.port}`;
  try {
    const connection = await connectWhenReady(address, options.namespace, 60_000, () => exited);
    try {
      await ensureSearchAttributes(connection, options.namespace, 'register', options.output);
    } finally {
      await connection.close();
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { process: server, address };
}
