// `npm start`'s codec wiring: a key generated once under the data directory (owner-only) and reused, the caller's
// TEMPORAL_CODEC_KEYS winning; the dev server's Web UI pointed at the API's codec endpoint, whose CORS follows the
// UI port.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateCodecKey, parseCodecKeys } from '../../config/payload-codec';
import { devCodecKeys } from '../../scripts/dev-codec-key';
import { devServerArgs } from '../../scripts/dev-temporal';
import { childEnvironment, startConfigSchema } from '../../scripts/start-config';

describe('devCodecKeys', () => {
  it('when no key exists, then one is generated, kept owner-only under the data directory, and reused next time', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'orderpay-codec-'));
    const first = devCodecKeys({}, dataDir);
    expect(first.source).toMatch(/codec-keys \(new\)$/);
    const [key] = parseCodecKeys(first.value);
    expect(key!.id).toMatch(/^dev-\d{4}-\d{2}-\d{2}$/);
    const file = path.join(dataDir, 'codec-keys');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.value);

    const second = devCodecKeys({}, dataDir);
    expect(second.value).toBe(first.value);
    expect(second.source).not.toMatch(/\(new\)/);
  });

  it('when TEMPORAL_CODEC_KEYS is set, then it is used and nothing is written', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'orderpay-codec-'));
    const given = `${generateCodecKey('mine')},${generateCodecKey('old')}`;
    expect(devCodecKeys({ TEMPORAL_CODEC_KEYS: given }, dataDir)).toEqual({
      value: given,
      source: 'TEMPORAL_CODEC_KEYS',
    });
    expect(() => statSync(path.join(dataDir, 'codec-keys'))).toThrow();
  });

  it('when the kept file is damaged, then start-up fails naming the file, not the key', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'orderpay-codec-'));
    writeFileSync(path.join(dataDir, 'codec-keys'), 'dev:c2hvcnQ=\n');
    expect(() => devCodecKeys({}, dataDir)).toThrow(/codec-keys is not a valid key list \(key "dev" must be 32 bytes/);
  });
});

describe('the dev stack and the codec endpoint', () => {
  it('when a codec endpoint is given, then the dev server gets it as --ui-codec-endpoint', () => {
    const base = { dbFile: '/tmp/t.db', port: 7233, uiPort: 8233, namespace: 'default', logLevel: 'error' };
    const args = devServerArgs({ ...base, codecEndpoint: 'http://localhost:3000/codec' });
    expect(args[args.indexOf('--ui-codec-endpoint') + 1]).toBe('http://localhost:3000/codec');
    expect(devServerArgs(base)).not.toContain('--ui-codec-endpoint');
  });

  it('when the UI port moves, then the API allows that origin, and the api and worker get the codec keys', () => {
    const env = { TEMPORAL_UI_PORT: '9233' };
    const child = childEnvironment(env, {
      config: startConfigSchema.parse(env),
      databaseUrl: 'postgres://x',
      temporalAddress: '127.0.0.1:7233',
      sandboxStateFile: '/tmp/s.json',
      codecKeys: 'k:AAAA',
    });
    expect(child.CODEC_CORS_ORIGINS).toBe('http://localhost:9233,http://127.0.0.1:9233');
    expect(child.TEMPORAL_CODEC_KEYS).toBe('k:AAAA');
  });
});
