// P3's baseline: the least a webhook endpoint can do and still be durable. Express reads the raw body and one
// INSERT stores it before the 200, with no signature check, no claim and no signal.
import express from 'express';
import pg from 'pg';

async function main(): Promise<void> {
  const databaseUrl = requiredEnv('DATABASE_URL');
  const port = Number(requiredEnv('PORT'));
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10, application_name: 'orderpay-bench-bare-webhook' });
  await pool.query(
    'CREATE TABLE IF NOT EXISTS bench_bare_webhooks (id bigserial PRIMARY KEY, event_id text UNIQUE, body text NOT NULL)',
  );
  const app = express();
  app.post('/webhooks/:gateway', express.raw({ type: () => true, limit: '256kb' }), async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const eventId = req.get('x-bench-event-id') ?? null;
    await pool.query('INSERT INTO bench_bare_webhooks (event_id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      eventId,
      body,
    ]);
    res.status(200).json({ received: true });
  });
  const server = app.listen(port, '127.0.0.1', () => console.log('bare webhook server listening'));
  const stop = () => server.close(() => void pool.end().then(() => process.exit(0)));
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
