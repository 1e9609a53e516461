// The cluster topology and docker-compose.yml run the same Temporal server: same version, same dynamic config, same
// schema steps. These hold the files to each other, and check what `npm start -- --cluster` parses and renders.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../config/env';
import { parseStartArguments } from '../../scripts/start-config';
import {
  CLUSTER_DYNAMIC_CONFIG,
  defaultClusterPorts,
  renderServerConfig,
  TEMPORAL_SERVER_VERSION,
} from '../../scripts/temporal-cluster';

const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

describe('the cluster topology and docker-compose.yml', () => {
  it('when both are read, then they name the same server version, dynamic config and schema steps', () => {
    const compose = read('docker-compose.yml');
    expect(compose).toContain(`temporalio/server:\${TEMPORAL_VERSION:-${TEMPORAL_SERVER_VERSION}}`);
    expect(compose).toContain(`temporalio/admin-tools:\${TEMPORAL_ADMINTOOLS_VERSION:-${TEMPORAL_SERVER_VERSION}-`);
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
