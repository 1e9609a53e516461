// The development API key of `npm start`: made on the first start, kept in <data dir>/dev-api-key (mode 0600), and
// handed to the API as ORDERPAY_BOOTSTRAP_API_KEY, so every later start prints (and accepts) the same key.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { API_KEY_PATTERN, generateApiKey, keyEnvironment } from '../api/auth/api-key';

export function devApiKeyPath(dataDir: string): string {
  return path.join(dataDir, 'dev-api-key');
}

export function ensureDevApiKey(dataDir: string, orderpayEnv: string): string {
  const file = devApiKeyPath(dataDir);
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (API_KEY_PATTERN.test(stored)) return stored;
  }
  const key = generateApiKey(keyEnvironment(orderpayEnv));
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
