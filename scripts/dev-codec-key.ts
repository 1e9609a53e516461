// The payload codec key of `npm start`: TEMPORAL_CODEC_KEYS when the caller set it, otherwise a key generated once
// and kept in the data directory, so histories written by one run stay readable in the next. Production never
// comes here: its processes refuse to start without TEMPORAL_CODEC_KEYS (config/env.ts).
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateCodecKey, parseCodecKeys } from '../config/payload-codec';

export interface DevCodecKeys {
  /** The TEMPORAL_CODEC_KEYS value the api and worker get. */
  value: string;
  /** Where it came from, for the start-up log (never the key). */
  source: string;
}

/** Relative to the working directory when inside it, absolute otherwise. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') ? relative : file;
}

export function devCodecKeys(env: NodeJS.ProcessEnv, dataDir: string): DevCodecKeys {
  const given = env.TEMPORAL_CODEC_KEYS?.trim();
  if (given) {
    parseCodecKeys(given);
    return { value: given, source: 'TEMPORAL_CODEC_KEYS' };
  }
  const file = path.join(dataDir, 'codec-keys');
  if (existsSync(file)) {
    const value = readFileSync(file, 'utf8').trim();
    try {
      parseCodecKeys(value);
    } catch (error) {
      throw new Error(`${file} is not a valid key list (${error instanceof Error ? error.message : String(error)})`);
    }
    return { value, source: shown(file) };
  }
  mkdirSync(dataDir, { recursive: true });
  const value = generateCodecKey(`dev-${new Date().toISOString().slice(0, 10)}`);
  // Owner-only: the key reads every payload the dev server stores.
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { value, source: `${shown(file)} (new)` };
}
