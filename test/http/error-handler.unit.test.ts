// The error contract with the dependencies faked: an unexpected failure is a 500 that names only the request ID,
// and the logs carry IDs but never the message's customer data or signatures.
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { startApiServer, type RunningApiServer } from '../../api/server';
import { apiConfigSchema } from '../../config/env';
import type { Pool } from '../../db/pool';
import type { WebhookVerifier } from '../../gateways/gateway';
import { apiTestMetrics } from '../support/api-harness';

const logLines: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

/** Fails the way a bug would, with a message that must not reach the caller. */
const brokenVerifier: WebhookVerifier = {
  gateway: 'stripe',
  sensitiveHeaders: ['stripe-signature'],
  verify() {
    throw new Error('internal detail: secret=whsec_do_not_leak');
  },
};
const untouchable = new Proxy(
  {},
  {
    get: () => {
      throw new Error('dependency must not be used');
    },
  },
);

let server: RunningApiServer;
beforeAll(async () => {
  server = await startApiServer(
    {
      config: apiConfigSchema.parse({}),
      pool: untouchable as Pool,
      temporal: untouchable as Client,
      webhookVerifiers: { stripe: brokenVerifier },
      logger,
      metrics: apiTestMetrics(untouchable as Pool),
    },
    0,
  );
});
afterAll(() => server.stop());

test('when a handler fails unexpectedly, then 500 internal_error names the request ID and nothing else', async () => {
  const response = await fetch(`${server.url}/webhooks/stripe`, {
    method: 'POST',
    body: '{"customer":{"email":"ada@example.com"}}',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': 't=1,v1=deadbeefcafe',
      'x-request-id': 'req-500',
    },
  });
  const text = await response.text();

  expect(response.status).toBe(500);
  expect(response.headers.get('x-request-id')).toBe('req-500');
  expect(JSON.parse(text)).toEqual({
    error: { code: 'internal_error', message: 'an unexpected error occurred', details: { requestId: 'req-500' } },
  });
  expect(text).not.toContain('whsec_do_not_leak');
});

test('when requests are logged, then lines carry the request ID but no bodies, signatures or query strings', async () => {
  logLines.length = 0;
  await fetch(`${server.url}/webhooks/stripe?token=query-secret`, {
    method: 'POST',
    body: '{"email":"ada@example.com"}',
    headers: { 'stripe-signature': 't=1,v1=deadbeefcafe', 'x-request-id': 'req-log' },
  });
  // The access line is written on 'finish', just after the response.
  await new Promise((resolve) => setTimeout(resolve, 50));

  const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(entries).toContainEqual(
    expect.objectContaining({ requestId: 'req-log', method: 'POST', path: '/webhooks/stripe', status: 500 }),
  );
  const all = logLines.join('\n');
  expect(all).not.toContain('ada@example.com');
  expect(all).not.toContain('deadbeefcafe');
  expect(all).not.toContain('query-secret');
});
