// The production topology's Temporal Web UI on this machine: `temporal-ui-server` (github.com/temporalio/ui-server/v2,
// built by scripts/bootstrap.mjs --cluster) in front of the cluster's frontend. It is the UI server the Temporal CLI
// embeds for `temporal server start-dev`, at the same version and with the same settings, so both start modes show
// the same UI with payloads decoded by orderpay's codec endpoint. docker-compose.yml runs the temporalio/ui image.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findExecutable, yamlString } from './temporal-cluster';

/** The version the Temporal CLI v1.5.1 embeds; bootstrap builds the same one. */
export const TEMPORAL_UI_SERVER_VERSION = '2.42.1';

/** TEMPORAL_UI_SERVER_PATH, then PATH, then .tools/bin: the order bootstrap uses. */
export function findTemporalUiServer(env: NodeJS.ProcessEnv = process.env): string {
  const found = findExecutable('temporal-ui-server', env.TEMPORAL_UI_SERVER_PATH, env);
  if (!found) {
    throw new Error(
      'The Temporal UI server for the cluster topology is not provisioned (missing: temporal-ui-server). Run ' +
        '`npm run bootstrap -- --cluster` (it builds it with Go: `go install ' +
        `github.com/temporalio/ui-server/v2/cmd/server@v${TEMPORAL_UI_SERVER_VERSION}\`, renamed temporal-ui-server), ` +
        'or set TEMPORAL_UI_SERVER_PATH.',
    );
  }
  return found;
}

/** The UI server's config (its server/config.Config keys), as the CLI builds it for the dev server's UI. */
export function renderUiServerConfig(options: {
  /** The cluster's frontend gRPC address. */
  temporalAddress: string;
  port: number;
  namespace: string;
  /** orderpay's codec endpoint: the browser posts encrypted payloads there and shows them decoded. */
  codecEndpoint: string;
  logLevel: string;
}): string {
  return `# Written by scripts/temporal-ui.ts on every start; edit that file, not this one.
temporalGrpcAddress: ${yamlString(options.temporalAddress)}
host: "127.0.0.1"
port: ${options.port}
publicPath: ""
enableUi: true
defaultNamespace: ${yamlString(options.namespace)}
codec:
  endpoint: ${yamlString(options.codecEndpoint)}
cors:
  # The UI's CSRF cookie must reach the server over plain HTTP; the CLI sets the same for the dev server's UI.
  cookieInsecure: true
# One line per HTTP request; kept for the server's own info and debug levels.
hideLogs: ${options.logLevel === 'debug' || options.logLevel === 'info' ? 'false' : 'true'}
`;
}

/**
 * Writes the config where `temporal-ui-server --root <dir> --config ui --env orderpay start` reads it. Not the
 * server's config directory: the UI server would read the Temporal server's orderpay.yaml there.
 */
export function writeUiServerConfig(rootDir: string, config: string): string[] {
  mkdirSync(path.join(rootDir, 'ui'), { recursive: true });
  writeFileSync(path.join(rootDir, 'ui', 'orderpay.yaml'), config);
  return ['--root', rootDir, '--config', 'ui', '--env', 'orderpay', 'start'];
}
