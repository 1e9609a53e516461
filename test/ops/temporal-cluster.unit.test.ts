// The cluster topology and docker-compose.yml run the same Temporal server: same version, same dynamic config, same
// schema steps. These hold the files to each other, and check what `npm start -- --cluster` parses, refuses and renders
// (the server's config, and its Web UI server's).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../config/env';
import { checkClusterConfig, parseStartArguments, startConfigSchema } from '../../scripts/start-config';
import {
  CLUSTER_DYNAMIC_CONFIG,
  defaultClusterPorts,
  renderServerConfig,
  TEMPORAL_SERVER_VERSION,
} from '../../scripts/temporal-cluster';
import { renderUiServerConfig, TEMPORAL_UI_SERVER_VERSION } from '../../scripts/temporal-ui';

const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

describe('the cluster topology and docker-compose.yml', () => {
  it('when both are read, then they name the same server and UI versions, dynamic config and schema steps', () => {
    const compose = read('docker-compose.yml');
    expect(compose).toContain(`temporalio/server:\${TEMPORAL_VERSION:-${TEMPORAL_SERVER_VERSION}}`);
    expect(compose).toContain(`temporalio/admin-tools:\${TEMPORAL_ADMINTOOLS_VERSION:-${TEMPORAL_SERVER_VERSION}-`);
    expect(compose).toContain(`temporalio/ui:\${TEMPORAL_UI_VERSION:-${TEMPORAL_UI_SERVER_VERSION}}`);
    expect(compose).toContain(`./${path.relative(root, CLUSTER_DYNAMIC_CONFIG)}:`);
    for (const step of ['setup-schema -v 0.0', 'update-schema -d "$$schema/temporal/versioned"']) {
      expect(compose).toContain(step);
    }
    expect(read('scripts/bootstrap.mjs')).toContain(`const TEMPORAL_SERVER_VERSION = '${TEMPORAL_SERVER_VERSION}';`);
  });

  it('when the server config is rendered, then it uses SQL visibility on PostgreSQL and the shared dynamic config', () => {
    const config = renderServerConfig({
      database: { host: '127.0.0.1', port: 5432, user: 'postgres', password: '', database: 'temporal' },
      ports: defaultClusterPorts(17233),
      dynamicConfigFile: CLUSTER_DYNAMIC_CONFIG,
      logLevel: 'error',
    });
    expect(config).toContain('visibilityStore: postgres-visibility');
    expect(config).toContain('databaseName: "temporal_visibility"');
    expect(config.match(/pluginName: postgres12/g)).toHaveLength(2);
    expect(config).toContain(`filepath: ${JSON.stringify(CLUSTER_DYNAMIC_CONFIG)}`);
    expect(config).toContain('grpcPort: 17233');
    expect(config).toContain('membershipPort: 16933');
  });
});

describe('npm start arguments', () => {
  it('when --cluster is given, then two API replicas and two workers run unless the counts say otherwise', () => {
    expect(parseStartArguments([])).toEqual({ topology: 'embedded', apiReplicas: 1, workers: 1 });
    expect(parseStartArguments(['--cluster'])).toEqual({ topology: 'cluster', apiReplicas: 2, workers: 2 });
    expect(parseStartArguments(['--cluster', '--workers', '3', '--api-replicas', '1'])).toEqual({
      topology: 'cluster',
      apiReplicas: 1,
      workers: 3,
    });
  });

  it('when an option is unknown or a count is not a number from 1 to 8, then start refuses with the reason', () => {
    expect(() => parseStartArguments(['--clutser'])).toThrow(ConfigError);
    expect(() => parseStartArguments(['--workers', '0'])).toThrow(/1 to 8/);
    expect(() => parseStartArguments(['--workers'])).toThrow(/needs a number/);
  });
});

describe('the cluster Web UI server', () => {
  it('when bootstrap and the start script are read, then they name the same UI server version', () => {
    expect(read('scripts/bootstrap.mjs')).toContain(
      `const TEMPORAL_UI_SERVER_VERSION = '${TEMPORAL_UI_SERVER_VERSION}';`,
    );
  });

  it('when its config is rendered, then it serves the UI on the UI port, in front of the frontend, decoding with the codec endpoint', () => {
    const config = renderUiServerConfig({
      temporalAddress: '127.0.0.1:17233',
      port: 18233,
      namespace: 'shop',
      codecEndpoint: 'http://localhost:4000/codec',
      logLevel: 'error',
    });
    const lines = config.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'temporalGrpcAddress: "127.0.0.1:17233"',
        'port: 18233',
        'enableUi: true',
        'defaultNamespace: "shop"',
        'codec:',
        '  endpoint: "http://localhost:4000/codec"',
        '  cookieInsecure: true',
        'hideLogs: true',
      ]),
    );
    // The UI server renders a file that mentions this marker as a Go template, and would read env vars into it.
    expect(config).not.toContain('enable-template');
  });
});

describe('npm start -- --cluster refuses what the cluster cannot run with', () => {
  const clusterConfig = (env: Record<string, string>) => () => checkClusterConfig(startConfigSchema.parse(env));

  it('when TEMPORAL_DEV_PORT puts a membership port outside a PostgreSQL smallint, then start refuses naming it', () => {
    for (const port of ['40000', '33062', '300', '0']) {
      expect(clusterConfig({ TEMPORAL_DEV_PORT: port })).toThrow(ConfigError);
      expect(clusterConfig({ TEMPORAL_DEV_PORT: port })).toThrow(/TEMPORAL_DEV_PORT=\d+ .* from 301 to 33061/);
    }
  });

  it('when TEMPORAL_DEV_PORT keeps every derived port in range, then start accepts it', () => {
    for (const port of ['7233', '301', '33061']) expect(clusterConfig({ TEMPORAL_DEV_PORT: port })).not.toThrow();
    const highest = defaultClusterPorts(33061);
    const membership = [
      highest.frontendMembership,
      highest.historyMembership,
      highest.matchingMembership,
      highest.workerMembership,
    ];
    expect(Math.max(...membership)).toBe(32_767);
    expect(Math.min(...Object.values(defaultClusterPorts(301)))).toBe(1);
  });

  it('when TEMPORAL_ADDRESS is set, then --cluster is refused, as it runs its own server', () => {
    expect(clusterConfig({ TEMPORAL_ADDRESS: 'temporal.example:7233' })).toThrow(/unset TEMPORAL_ADDRESS/);
  });
});
