// The sandbox gateway as its own process: `node dist/sandbox/main.js`. Configuration comes from SANDBOX_* env.
import { loadConfig, sandboxConfigSchema } from '../config/env';
import { createLogger } from '../config/logger';
import { startSandbox } from './server';

async function main(): Promise<void> {
  const config = loadConfig(sandboxConfigSchema);
  const logger = createLogger('sandbox', config.LOG_LEVEL);
  const running = await startSandbox({
    port: config.SANDBOX_PORT,
    host: config.SANDBOX_HOST,
    stateFile: config.SANDBOX_STATE_FILE,
    publicUrl: config.SANDBOX_PUBLIC_URL,
    apiKey: config.SANDBOX_API_KEY,
    webhookUrl: config.SANDBOX_WEBHOOK_URL,
    webhookSecret: config.SANDBOX_WEBHOOK_SECRET,
    esewa: { productCode: config.SANDBOX_ESEWA_PRODUCT_CODE, secretKey: config.SANDBOX_ESEWA_SECRET_KEY },
    khaltiSecretKey: config.SANDBOX_KHALTI_SECRET_KEY,
    khaltiExpiryMs: config.SANDBOX_KHALTI_EXPIRY,
    logger,
  });
  logger.info(
    { url: running.url, publicUrl: running.publicUrl, webhookUrl: config.SANDBOX_WEBHOOK_URL },
    'sandbox gateway listening',
  );

  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'sandbox gateway stopping');
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'sandbox gateway did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  // Config errors name the bad variable; anything else is a bug worth its stack.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
