// Payload encryption end to end: an order placed through the API (real worker, real dev server, the test codec
// key) leaves no customer email in plain text in its Temporal history as an operator downloads it with
// `temporal workflow show`, and the API's codec endpoint (Temporal's codec server protocol) decrypts it again
// over HTTP for the Web UI: with CORS for the UI's origin, behind CODEC_AUTH_TOKEN, or for this machine only.
import { execFile } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId } from '../../contracts/order.contract';
import { findTemporalCli } from '../../scripts/temporal-cli';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { testTemporalAddress, uniqueId } from '../support/temporal';

jest.setTimeout(60_000);

const CODEC_TOKEN = 'codec-token-for-tests-0123456789';
const UI_ORIGIN = 'http://localhost:8233';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}
interface HistoryJson {
  events: Array<{
    eventType: string;
    workflowExecutionStartedEventAttributes?: { input?: { payloads: JsonPayload[] } };
  }>;
}

let harness: ApiHarness;
let open: RunningApiServer;
let guarded: RunningApiServer;
let email: string;
let history: { raw: string; json: HistoryJson };

const b64 = (text: string) => Buffer.from(text).toString('base64');
const unb64 = (text: string | undefined) => Buffer.from(text ?? '', 'base64').toString('utf8');

beforeAll(async () => {
  harness = await startApiHarness();
  const taskQueue = harness.worker.taskQueue;
  open = await harness.startApi();
  guarded = await harness.startApi({
    config: harness.config({ TEMPORAL_TASK_QUEUE: taskQueue, CODEC_AUTH_TOKEN: CODEC_TOKEN }),
  });

  const orderId = uniqueId('codec');
  email = `${orderId}@example.com`;
  const created = await postJson(open.url, '/orders', {
    orderId,
    amount: 4200,
    currency: 'USD',
    gateway: 'stripe',
    description: 'encrypted order',
    customer: { name: 'Codec Tester', email, phone: '+977 9800000001' },
  });
  expect(created.status).toBe(201);
  // What an operator downloads: the CLI, no codec endpoint.
  const { stdout } = await promisify(execFile)(
    findTemporalCli(),
    ['workflow', 'show', '--workflow-id', orderWorkflowId(orderId), '--address', testTemporalAddress(), '-o', 'json'],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  history = { raw: stdout, json: JSON.parse(stdout) as HistoryJson };
});

afterAll(() => harness?.stop());

function startedInput(): JsonPayload[] {
  const started = history.json.events.find((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
  const payloads = started?.workflowExecutionStartedEventAttributes?.input?.payloads;
  if (!payloads || payloads.length === 0) throw new Error('no workflow input in the history');
  return payloads;
}

describe('payload encryption in Temporal', () => {
  it('when an order with a customer email is in Temporal, then its history as downloaded holds no plain-text email, name or phone', () => {
    const [input] = startedInput();
    expect(unb64(input!.metadata?.encoding)).toBe('binary/encrypted');
    expect(unb64(input!.metadata?.['encryption-key-id'])).toBe('test-1');
    // Raw JSON and every base64 payload decoded: the email appears in neither.
    const decodedPayloads = [...history.raw.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => unb64(m[1]));
    expect(decodedPayloads.length).toBeGreaterThan(0);
    for (const text of [history.raw, ...decodedPayloads]) {
      expect(text).not.toContain(email);
      expect(text).not.toContain('Codec Tester');
      expect(text).not.toContain('9800000001');
    }
  });
});

describe('POST /codec/decode and /codec/encode', () => {
  it('when the history payload is posted from this machine, then the endpoint answers it decrypted', async () => {
    const response = await postJson(open.url, '/codec/decode', { payloads: startedInput() });
    expect(response.status).toBe(200);
    const [decoded] = (response.body as { payloads: JsonPayload[] }).payloads;
    expect(unb64(decoded!.metadata?.encoding)).toBe('json/plain');
    expect(JSON.parse(unb64(decoded!.data))).toMatchObject({ customer: { email } });
  });

  it('when a payload is encoded then decoded over HTTP, then it round-trips and the encoded form is ciphertext', async () => {
    const plain = { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify({ email })) };
    const encoded = await postJson(open.url, '/codec/encode', { payloads: [plain] });
    expect(encoded.status).toBe(200);
    const [ciphertext] = (encoded.body as { payloads: JsonPayload[] }).payloads;
    expect(unb64(ciphertext!.metadata?.encoding)).toBe('binary/encrypted');
    expect(unb64(ciphertext!.data)).not.toContain(email);
    const decoded = await postJson(open.url, '/codec/decode', { payloads: [ciphertext] });
    expect((decoded.body as { payloads: JsonPayload[] }).payloads).toEqual([plain]);
  });

  it('when a payload was never encrypted, then decode returns it unchanged', async () => {
    const plain = { metadata: { encoding: b64('json/plain') }, data: b64('"x"') };
    const response = await postJson(open.url, '/codec/decode', { payloads: [plain] });
    expect(response.body).toEqual({ payloads: [plain] });
  });

  it('when a payload names an unknown key or was tampered with, then the answer is 422 payload_undecryptable', async () => {
    const [input] = startedInput();
    const unknown = { ...input, metadata: { ...input!.metadata, 'encryption-key-id': b64('retired-key') } };
    const unknownAnswer = await postJson(open.url, '/codec/decode', { payloads: [unknown] });
    expect(unknownAnswer.status).toBe(422);
    expect(unknownAnswer.body.error.code).toBe('payload_undecryptable');
    expect(unknownAnswer.body.error.message).toMatch(/"retired-key", which is not in TEMPORAL_CODEC_KEYS/);

    const bytes = Buffer.from(input!.data!, 'base64');
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    const tampered = await postJson(open.url, '/codec/decode', {
      payloads: [{ ...input, data: bytes.toString('base64') }],
    });
    expect(tampered.status).toBe(422);
  });

  it('when the body is not a payload list, then the answer is 400 validation_failed', async () => {
    const response = await postJson(open.url, '/codec/decode', { payloads: [{ data: 'not base64!' }] });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_failed');
  });

  it("when the Web UI's origin sends a preflight, then CORS allows it with its headers and credentials", async () => {
    const response = await http(open.url, 'OPTIONS', '/codec/decode', {
      headers: {
        origin: UI_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace,authorization',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/i);
    expect(response.headers.get('access-control-allow-headers')).toMatch(/Authorization/i);
  });

  it('when another origin asks, then no CORS header lets its page read the answer', async () => {
    const response = await postJson(open.url, '/codec/decode', { payloads: [] }, { origin: 'https://evil.example' });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('when CODEC_AUTH_TOKEN is set, then calls without the bearer token get 401 and calls with it are decoded', async () => {
    const body = { payloads: startedInput() };
    const without = await postJson(guarded.url, '/codec/decode', body, { origin: UI_ORIGIN });
    expect(without.status).toBe(401);
    expect(without.body.error.code).toBe('unauthorized');
    expect(without.text).not.toContain(email);
    // The browser must be able to read the refusal, so the UI can say why.
    expect(without.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const wrong = await postJson(guarded.url, '/codec/decode', body, {
      authorization: 'Bearer wrong-token-0123456789',
    });
    expect(wrong.status).toBe(401);
    const right = await postJson(guarded.url, '/codec/decode', body, { authorization: `Bearer ${CODEC_TOKEN}` });
    expect(right.status).toBe(200);
    const [decoded] = (right.body as { payloads: JsonPayload[] }).payloads;
    expect(JSON.parse(unb64(decoded!.data))).toMatchObject({ customer: { email } });
  });

  it('when CODEC_AUTH_TOKEN is unset and the caller is not on this machine, then the answer is 403', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && !address.internal && address.family === 'IPv4');
    if (!external) throw new Error('this test needs a non-loopback IPv4 interface to call from');
    const port = new URL(open.url).port;
    const response = await postJson(`http://${external.address}:${port}`, '/codec/decode', {
      payloads: startedInput(),
    });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('forbidden');
    expect(response.text).not.toContain(email);
  });
});
