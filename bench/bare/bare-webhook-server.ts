// P3's baselines: the least a webhook endpoint can do and still be durable. POST /webhooks/:gateway reads the raw
// body with Express and stores it with one INSERT before the 200: no signature check, no claim, no signal.
// POST /signal/webhooks/:gateway does the same and then signals the order's bare inbox workflow (bench/bare), which is
// the least a webhook can do and still reach a workflow before it answers, as orderpay's does.
import { Client, Connection } from '@temporalio/client';
import express from 'express';
import pg from 'pg';
import { orderpayDataConverter, parseCodecKeys } from '../../config/payload-codec';
import { bareInboxWorkflowId, barePaidSignal } from './bare.contract';

async function main(): Promise<void> {
  const databaseUrl = requiredEnv('DATABASE_URL');
  const port = Number(requiredEnv('PORT'));
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 5, application_name: 'orderpay-bench-bare-webhook' });
  await pool.query(
    'CREATE TABLE IF NOT EXISTS bench_bare_webhooks (id bigserial PRIMARY KEY, event_id text UNIQUE, body text NOT NULL)',
  );
  const connection = await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
  const temporal = new Client({
    connection,
    namespace: 'default',
    dataConverter: orderpayDataConverter(parseCodecKeys(requiredEnv('TEMPORAL_CODEC_KEYS'))),
  });
  const store = async (req: express.Request) => {
    const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    await pool.query('INSERT INTO bench_bare_webhooks (event_id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      req.get('x-bench-event-id') ?? null,
      body,
    ]);
  };
  const raw = express.raw({ type: () => true, limit: '256kb' });
  const app = express();
  app.post('/webhooks/:gateway', raw, async (req, res) => {
    await store(req);
    res.status(200).json({ received: true });
  });
  app.post('/signal/webhooks/:gateway', raw, async (req, res) => {
    await store(req);
    await temporal.workflow.getHandle(bareInboxWorkflowId(req.get('x-bench-order-id') ?? '')).signal(barePaidSignal);
    res.status(200).json({ received: true });
  });
  const server = app.listen(port, '127.0.0.1', () => console.log('bare webhook server listening'));
  const stop = () => server.close(() => void Promise.all([pool.end(), connection.close()]).then(() => process.exit(0)));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
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
