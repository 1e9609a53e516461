// `npm run keys -- create|list|revoke`: manage merchant API keys on the database directly (no API needed).
//   create --name <name> --scopes <scope,…>   prints the key once; only its digest is stored
//   list                                      every key: ID, name, prefix, scopes, created, last used, revoked
//   revoke <key ID>                           the key gets 401 from now on
// Each change is written to the admin audit log, actor `cli:<user>` (or --actor). The database is DATABASE_URL, by
// default the embedded PostgreSQL of `npm start`.
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { apiKeyIdSchema, apiKeyNameSchema, apiKeyScopesSchema, keyEnvironment } from '../api/auth/api-key';
import { createApiKey, listKeys, revokeKey } from '../api/auth/manage-api-keys.use-case';
import { ApiError } from '../api/http/errors';
import { loadConfig, orderpayEnvField, port } from '../config/env';
import { recordAdminAction } from '../db/admin/admin-actions.repo';
import { createPool, type Pool } from '../db/pool';

const USAGE = `usage: npm run keys -- create --name <name> --scopes <scope,...> [--actor <who>]
       npm run keys -- list
       npm run keys -- revoke <key ID> [--actor <who>]
scopes: orders:write, orders:read, refunds:write, admin`;

const config = loadConfig(
  z.object({
    DATABASE_URL: z.string().trim().optional(),
    EMBEDDED_POSTGRES_PORT: port(5433),
    EMBEDDED_POSTGRES_DATABASE: z.string().default('orderpay'),
    ORDERPAY_ENV: orderpayEnvField,
  }),
);

class UsageError extends Error {}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(`${what}: ${result.error.issues.map((i) => i.message).join('; ')}`);
  return result.data;
}

async function audit(pool: Pool, actor: string, action: string, target: string, details: Record<string, unknown>) {
  await recordAdminAction(pool, {
    actor,
    action,
    target,
    requestId: `cli-${randomUUID()}`,
    details,
    outcome: 'succeeded',
  });
}

async function run(pool: Pool, argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: 'string' }, scopes: { type: 'string' }, actor: { type: 'string' } },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  const actor = parse(apiKeyNameSchema, values.actor ?? `cli:${userInfo().username}`, '--actor');
  switch (command) {
    case 'create': {
      const name = parse(apiKeyNameSchema, values.name, '--name');
      const scopes = parse(apiKeyScopesSchema, (values.scopes ?? '').split(',').filter(Boolean), '--scopes');
      const created = await createApiKey(pool, { name, scopes, environment: keyEnvironment(config.ORDERPAY_ENV) });
      await audit(pool, actor, 'api_key.create', created.id, { name, scopes, via: 'cli' });
      console.log(`created ${created.id} (${created.name}, scopes ${created.scopes.join(',')})`);
      console.log('the key, shown only this once:');
      console.log(created.key);
      return;
    }
    case 'list': {
      const keys = await listKeys(pool);
      if (keys.length === 0) console.log('no API keys');
      for (const key of keys) {
        const state = key.revoked ? `revoked ${key.revokedAt}` : 'active';
        console.log(
          [
            key.id,
            key.name,
            `${key.prefix}…`,
            key.scopes.join(','),
            `created ${key.createdAt}`,
            `last used ${key.lastUsedAt ?? 'never'}`,
            state,
          ].join('\t'),
        );
      }
      return;
    }
    case 'revoke': {
      const id = parse(apiKeyIdSchema, rest[0], 'key ID');
      const revoked = await revokeKey(pool, id);
      await audit(pool, actor, 'api_key.revoke', id, { via: 'cli', changed: revoked.changed });
      console.log(revoked.changed ? `revoked ${id} (${revoked.key.name})` : `${id} was already revoked`);
      return;
    }
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'a command is required');
  }
}

async function main(): Promise<void> {
  const databaseUrl =
    config.DATABASE_URL ||
    `postgres://postgres@127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}/${config.EMBEDDED_POSTGRES_DATABASE}`;
  const pool = createPool(databaseUrl, { max: 1, applicationName: 'orderpay-keys' });
  try {
    await run(pool, process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) console.error(`${error.message}\n${USAGE}`);
    else if (error instanceof ApiError) console.error(error.message);
    else console.error(`failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  } finally {
    await pool.end();
  }
}

void main();
