// The bench's bare worker as its own process (like the order worker): bundles bench/bare/bare.workflows.ts from
// source and runs it with the SDK's default worker settings on BARE_TASK_QUEUE. It encrypts payloads with the run's
// TEMPORAL_CODEC_KEYS as orderpay's processes do, so the codec's cost is on both sides of the comparison.
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { orderpayDataConverter, parseCodecKeys } from '../../config/payload-codec';
import { projectPath } from '../../config/paths';
import { bareActivities } from './bare.activities';

async function main(): Promise<void> {
  const address = requiredEnv('TEMPORAL_ADDRESS');
  const taskQueue = requiredEnv('BARE_TASK_QUEUE');
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowsPath: projectPath('bench', 'bare', 'bare.workflows.ts'),
    activities: bareActivities,
    dataConverter: orderpayDataConverter(parseCodecKeys(requiredEnv('TEMPORAL_CODEC_KEYS'))),
  });
  console.log('bare worker started');
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
