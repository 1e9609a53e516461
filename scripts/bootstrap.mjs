#!/usr/bin/env node
// Provisions what `npm start` and `npm test` need before anything is compiled: node_modules and the Temporal CLI,
// and says whether promtool (a system package the tests use) is there. With --cluster it also provisions the Temporal
// server, its SQL schema tool and the Temporal Web UI server for the cluster topology (`npm start -- --cluster`,
// `npm run chaos`).
// Plain Node with no dependencies, because it runs before `npm ci`. Idempotent: when everything is present it
// only stats a few files and asks the CLI for its version.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPORAL_CLI_VERSION = '1.5.1';
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
// The CLI reports this version; without it a `go install` build says 0.0.0-DEV.
const TEMPORAL_CLI_VERSION_LDFLAG = `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`;
const RELEASE_BASE = `https://github.com/temporalio/cli/releases/download/v${TEMPORAL_CLI_VERSION}`;
// What the CLI's own install.sh downloads from; the GitHub release above also publishes checksums.txt.
const OFFICIAL_CDN = 'https://temporal.download/cli/archive';
const DOWNLOAD_TIMEOUT_MS = 120_000;
// The cluster topology's server: the newest 1.29 patch (its go.mod has no replace lines, so `go install` works).
// scripts/temporal-cluster.ts holds the same version.
const TEMPORAL_SERVER_VERSION = '1.29.1';
const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';
// The cluster topology's Web UI: the UI server the Temporal CLI above embeds for `temporal server start-dev`, so both
// start modes show the same UI (its go.mod has no replace lines either). scripts/temporal-ui.ts holds the same version.
const TEMPORAL_UI_SERVER_VERSION = '2.42.1';
const TEMPORAL_UI_SERVER_MODULE = 'github.com/temporalio/ui-server/v2';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolsBin = path.join(root, '.tools', 'bin');
const exe = process.platform === 'win32' ? '.exe' : '';
const started = performance.now();

class BootstrapError extends Error {}

const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)}s`;
const log = (message) => console.log(`[bootstrap] ${message}`);

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function mtimeMs(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// node_modules
// ---------------------------------------------------------------------------------------------------------------

/** npm writes node_modules/.package-lock.json at the end of a successful install, so its age is the install's. */
function nodeModulesState() {
  const lockfile = mtimeMs(path.join(root, 'package-lock.json'));
  if (lockfile === undefined) throw new BootstrapError('package-lock.json is missing; `npm ci` needs it.');
  const installed = mtimeMs(path.join(root, 'node_modules', '.package-lock.json'));
  if (installed === undefined) return 'missing';
  return installed < lockfile ? 'stale' : 'current';
}

function ensureNodeModules() {
  const state = nodeModulesState();
  if (state === 'current') {
    log('node_modules is up to date with package-lock.json (skipped npm ci)');
    return;
  }
  const since = performance.now();
  log(`node_modules is ${state === 'missing' ? 'missing' : 'older than package-lock.json'}: running npm ci`);
  // Under `npm start`/`npm test` npm tells us which npm is running; use that one rather than whatever is on PATH.
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli && npmCli.endsWith('.js') ? [process.execPath, [npmCli, 'ci']] : ['npm', ['ci']];
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.error) throw new BootstrapError(`could not run npm ci: ${result.error.message}`);
  if (result.status !== 0) {
    throw new BootstrapError(
      `npm ci failed (exit ${result.status ?? result.signal}). When npm reports package-lock.json out of sync ` +
        '("Missing: … from lock file"), the lock file must be fixed and committed; npm ci never changes it.',
    );
  }
  log(`npm ci finished in ${seconds(since)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Temporal CLI
// ---------------------------------------------------------------------------------------------------------------

function cliVersion(file) {
  const result = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) return undefined;
  return result.stdout.trim();
}

/** The same order as scripts/temporal-cli.ts (findTemporalCli), which the server and tests use afterwards. */
function findExistingCli() {
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) {
    // An explicit path that does not work is a mistake to report, not a reason to quietly use another CLI.
    if (!isExecutable(explicit)) throw new BootstrapError(`TEMPORAL_CLI_PATH=${explicit} is not an executable file.`);
    return { file: explicit, source: 'TEMPORAL_CLI_PATH' };
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, `temporal${exe}`);
    if (isExecutable(file)) return { file, source: 'PATH' };
  }
  const local = path.join(toolsBin, `temporal${exe}`);
  if (isExecutable(local)) return { file: local, source: '.tools/bin' };
  return undefined;
}

function findGo() {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/local/go/bin']) {
    const file = path.join(dir, `go${exe}`);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

function buildCliWithGo(go) {
  const since = performance.now();
  log(`building Temporal CLI v${TEMPORAL_CLI_VERSION} with ${go} (a cold build takes a few minutes)`);
  mkdirSync(toolsBin, { recursive: true });
  const result = spawnSync(
    go,
    ['install', '-ldflags', `-s -w ${TEMPORAL_CLI_VERSION_LDFLAG}`, `${TEMPORAL_CLI_MODULE}@v${TEMPORAL_CLI_VERSION}`],
    {
      cwd: root,
      stdio: 'inherit',
      // CGO off: the CLI's SQLite is pure Go, and it is how the official release is built (no C toolchain needed).
      env: {
        ...process.env,
        GOBIN: toolsBin,
        CGO_ENABLED: '0',
        PATH: `${path.dirname(go)}${path.delimiter}${process.env.PATH ?? ''}`,
      },
    },
  );
  if (result.error || result.status !== 0) {
    throw new BootstrapError(
      `go install of the Temporal CLI failed (${result.error?.message ?? `exit ${result.status}`}).`,
    );
  }
  log(`built .tools/bin/temporal in ${seconds(since)}`);
}

function releaseArchiveName() {
  const platform = { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform];
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
  if (!platform || !arch) return undefined;
  return `temporal_cli_${TEMPORAL_CLI_VERSION}_${platform}_${arch}.${platform === 'windows' ? 'zip' : 'tar.gz'}`;
}

async function fetchBytes(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS), redirect: 'follow' });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/** Downloads the official release archive and checks it against the release's checksums.txt before unpacking. */
async function downloadCli() {
  const since = performance.now();
  const archive = releaseArchiveName();
  if (!archive || archive.endsWith('.zip')) {
    throw new Error(`no release archive this script can unpack for ${process.platform}/${process.arch}`);
  }
  const url = `${RELEASE_BASE}/${archive}`;
  log(`downloading ${url}`);
  const [bytes, checksums] = await Promise.all([fetchBytes(url), fetchBytes(`${RELEASE_BASE}/checksums.txt`)]);
  const expected = checksums
    .toString('utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find(([, name]) => name === archive)?.[0];
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (!expected) throw new Error(`checksums.txt of v${TEMPORAL_CLI_VERSION} does not list ${archive}`);
  if (expected !== actual) throw new Error(`checksum mismatch for ${archive}: expected ${expected}, got ${actual}`);

  const work = mkdtempSync(path.join(tmpdir(), 'temporal-cli-'));
  try {
    writeFileSync(path.join(work, archive), bytes);
    const untar = spawnSync('tar', ['-xzf', archive, 'temporal'], { cwd: work, stdio: 'inherit' });
    if (untar.error || untar.status !== 0) throw new Error(`could not unpack ${archive} with tar`);
    mkdirSync(toolsBin, { recursive: true });
    renameSync(path.join(work, 'temporal'), path.join(toolsBin, 'temporal'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`downloaded .tools/bin/temporal in ${seconds(since)}`);
}

async function ensureTemporalCli() {
  const existing = findExistingCli();
  if (existing) {
    const version = cliVersion(existing.file);
    if (!version)
      throw new BootstrapError(`the Temporal CLI at ${existing.file} (from ${existing.source}) does not run.`);
    log(`Temporal CLI found via ${existing.source}: ${existing.file} (${version})`);
    return;
  }

  const go = findGo();
  if (go) {
    buildCliWithGo(go);
  } else {
    log('Temporal CLI not found and Go is not installed: downloading the release archive');
    try {
      await downloadCli();
    } catch (error) {
      const reason =
        error instanceof Error
          ? error.cause instanceof Error
            ? `${error.message}: ${error.cause.message}`
            : error.message
          : String(error);
      throw new BootstrapError(
        [
          `could not download the Temporal CLI v${TEMPORAL_CLI_VERSION} (${reason}).`,
          'Install it one of these ways, then run `npm run bootstrap` again:',
          '  - brew install temporal, or put any recent `temporal` binary on PATH',
          '  - set TEMPORAL_CLI_PATH=/path/to/temporal',
          `  - install Go (https://go.dev/dl/), and bootstrap builds it: GOBIN=$PWD/.tools/bin go install ${TEMPORAL_CLI_MODULE}@v${TEMPORAL_CLI_VERSION}`,
          `  - download ${RELEASE_BASE}/${releaseArchiveName() ?? '<archive for your platform>'}`,
          `    (or ${OFFICIAL_CDN}/v${TEMPORAL_CLI_VERSION}?platform=<linux|darwin>&arch=<amd64|arm64>) and put \`temporal\` in .tools/bin/`,
        ].join('\n'),
      );
    }
  }
  const built = path.join(toolsBin, `temporal${exe}`);
  const version = cliVersion(built);
  if (!version) throw new BootstrapError(`${built} was installed but does not run.`);
  log(`Temporal CLI ready: ${built} (${version})`);
}

// ---------------------------------------------------------------------------------------------------------------
// Temporal server and temporal-sql-tool (--cluster only)
// ---------------------------------------------------------------------------------------------------------------

/** The two binaries and the schema files, found the way scripts/temporal-cluster.ts (findClusterTools) finds them. */
function findClusterTool(name, explicitVariable) {
  const explicit = process.env[explicitVariable];
  if (explicit) {
    if (!isExecutable(explicit)) throw new BootstrapError(`${explicitVariable}=${explicit} is not an executable file.`);
    return { file: explicit, source: explicitVariable };
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, `${name}${exe}`);
    if (isExecutable(file)) return { file, source: 'PATH' };
  }
  const local = path.join(toolsBin, `${name}${exe}`);
  if (isExecutable(local)) return { file: local, source: '.tools/bin' };
  return undefined;
}

const bundledSchemaDir = path.join(
  root,
  '.tools',
  'share',
  `temporal-server-v${TEMPORAL_SERVER_VERSION}`,
  'schema',
  'postgresql',
  'v12',
);

function goEnv(go) {
  return { ...process.env, CGO_ENABLED: '0', PATH: `${path.dirname(go)}${path.delimiter}${process.env.PATH ?? ''}` };
}

/**
 * `go install` into a scratch GOBIN, then each binary moved into .tools/bin under the name its release gives it:
 * `go install` names a binary after its package directory, and the Temporal server and the UI server are both `server`.
 */
function goInstallRenamed(go, what, moduleVersion, binaries) {
  const since = performance.now();
  log(`building ${what} with ${go} (a cold build takes minutes; it is cached afterwards)`);
  const work = mkdtempSync(path.join(tmpdir(), 'temporal-go-install-'));
  try {
    const result = spawnSync(
      go,
      ['install', '-ldflags', '-s -w', ...binaries.map((binary) => `${binary.package}@${moduleVersion}`)],
      { cwd: root, stdio: 'inherit', env: { ...goEnv(go), GOBIN: work } },
    );
    if (result.error || result.status !== 0) {
      throw new BootstrapError(`go install of ${what} failed (${result.error?.message ?? `exit ${result.status}`}).`);
    }
    mkdirSync(toolsBin, { recursive: true });
    for (const binary of binaries) {
      renameSync(
        path.join(work, `${path.basename(binary.package)}${exe}`),
        path.join(toolsBin, `${binary.name}${exe}`),
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`built ${binaries.map((binary) => `.tools/bin/${binary.name}`).join(' and ')} in ${seconds(since)}`);
}

function buildClusterToolsWithGo(go) {
  goInstallRenamed(
    go,
    `temporal-server and temporal-sql-tool v${TEMPORAL_SERVER_VERSION}`,
    `v${TEMPORAL_SERVER_VERSION}`,
    [
      { package: `${TEMPORAL_SERVER_MODULE}/cmd/server`, name: 'temporal-server' },
      { package: `${TEMPORAL_SERVER_MODULE}/cmd/tools/sql`, name: 'temporal-sql-tool' },
    ],
  );
}

function buildUiServerWithGo(go) {
  goInstallRenamed(go, `the Temporal UI server v${TEMPORAL_UI_SERVER_VERSION}`, `v${TEMPORAL_UI_SERVER_VERSION}`, [
    { package: `${TEMPORAL_UI_SERVER_MODULE}/cmd/server`, name: 'temporal-ui-server' },
  ]);
}

/** Copies schema/postgresql/v12 out of the module (downloaded into Go's module cache when it is not there yet). */
function copySchemaWithGo(go) {
  const result = spawnSync(go, ['mod', 'download', '-json', `${TEMPORAL_SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION}`], {
    cwd: root,
    encoding: 'utf8',
    env: goEnv(go),
  });
  if (result.error || result.status !== 0) {
    throw new BootstrapError(`go mod download of ${TEMPORAL_SERVER_MODULE} failed: ${result.stderr || result.error}`);
  }
  const moduleDir = JSON.parse(result.stdout).Dir;
  const source = path.join(moduleDir, 'schema', 'postgresql', 'v12');
  if (!existsSync(path.join(source, 'temporal', 'versioned'))) {
    throw new BootstrapError(`${source} has no temporal/versioned schema files`);
  }
  mkdirSync(path.dirname(bundledSchemaDir), { recursive: true });
  cpSync(source, bundledSchemaDir, { recursive: true });
  // The module cache is read-only; the copy need not be.
  spawnSync('chmod', ['-R', 'u+w', bundledSchemaDir]);
  log(`copied the PostgreSQL schema files from ${source}`);
}

function ensureTemporalCluster() {
  let server = findClusterTool('temporal-server', 'TEMPORAL_SERVER_PATH');
  let sqlTool = findClusterTool('temporal-sql-tool', 'TEMPORAL_SQL_TOOL_PATH');
  let uiServer = findClusterTool('temporal-ui-server', 'TEMPORAL_UI_SERVER_PATH');
  const schemaDir = process.env.TEMPORAL_SCHEMA_DIR || bundledSchemaDir;
  const schemaPresent = () =>
    existsSync(path.join(schemaDir, 'temporal', 'versioned')) &&
    readdirSync(path.join(schemaDir, 'temporal', 'versioned')).length > 0;
  if (server && sqlTool && uiServer && schemaPresent()) {
    log(
      `Temporal server found via ${server.source}: ${server.file}; temporal-sql-tool via ${sqlTool.source}; ` +
        `temporal-ui-server via ${uiServer.source}`,
    );
    return;
  }
  const go = findGo();
  if (!go) {
    throw new BootstrapError(
      [
        `the cluster topology needs temporal-server and temporal-sql-tool v${TEMPORAL_SERVER_VERSION} with their schema files, and temporal-ui-server v${TEMPORAL_UI_SERVER_VERSION}; Go is not installed to build them.`,
        'Either install Go (https://go.dev/dl/) and run `npm run bootstrap -- --cluster` again, or provide them:',
        '  - put temporal-server and temporal-sql-tool on PATH (or set TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH),',
        `    e.g. from the temporal_${TEMPORAL_SERVER_VERSION}_<os>_<arch>.tar.gz asset of https://github.com/temporalio/temporal/releases`,
        "  - set TEMPORAL_SCHEMA_DIR to that release's schema/postgresql/v12 directory",
        '  - put temporal-ui-server on PATH (or set TEMPORAL_UI_SERVER_PATH): the `ui-server` binary of the',
        `    ui-server_${TEMPORAL_UI_SERVER_VERSION}_<os>_<arch>.tar.gz asset of https://github.com/temporalio/ui-server/releases, renamed`,
      ].join('\n'),
    );
  }
  if (!server || !sqlTool) {
    buildClusterToolsWithGo(go);
    server = findClusterTool('temporal-server', 'TEMPORAL_SERVER_PATH');
    sqlTool = findClusterTool('temporal-sql-tool', 'TEMPORAL_SQL_TOOL_PATH');
  }
  if (!uiServer) {
    buildUiServerWithGo(go);
    uiServer = findClusterTool('temporal-ui-server', 'TEMPORAL_UI_SERVER_PATH');
  }
  if (!schemaPresent()) {
    if (process.env.TEMPORAL_SCHEMA_DIR) {
      throw new BootstrapError(`TEMPORAL_SCHEMA_DIR=${schemaDir} has no temporal/versioned schema files.`);
    }
    copySchemaWithGo(go);
  }
  const version = spawnSync(server.file, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (version.status !== 0) throw new BootstrapError(`${server.file} was installed but does not run.`);
  const uiVersion = spawnSync(uiServer.file, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (uiVersion.status !== 0) throw new BootstrapError(`${uiServer.file} was installed but does not run.`);
  log(
    `Temporal server ready: ${server.file} (${version.stdout.trim()}), ${sqlTool.file}, ` +
      `${uiServer.file} (${uiVersion.stdout.trim()})`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// promtool (tests only)
// ---------------------------------------------------------------------------------------------------------------

/**
 * The tests check the metrics output and the alert rules with promtool. It is a system package, so bootstrap only
 * says what is missing (`.ci/run` installs it when it runs as root); the tests fail with the same advice.
 */
function checkPromtool() {
  const promtool = process.env.PROMTOOL_PATH || 'promtool';
  const found = spawnSync(promtool, ['--version'], { encoding: 'utf8' });
  if (found.status === 0) {
    log(`promtool found: ${(found.stdout || found.stderr).split('\n')[0]}`);
    return;
  }
  log(
    `promtool not found (${promtool}): npm test needs it for the metrics and alert-rule tests. ` +
      'Install it with `apt-get install -y prometheus` (Debian/Ubuntu), `brew install prometheus` (macOS), or put ' +
      'promtool from https://prometheus.io/download/ on PATH (or set PROMTOOL_PATH). npm start does not need it.',
  );
}

// ---------------------------------------------------------------------------------------------------------------

try {
  if (!existsSync(path.join(root, 'package.json'))) throw new BootstrapError(`no package.json in ${root}`);
  ensureNodeModules();
  await ensureTemporalCli();
  if (process.argv.includes('--cluster')) ensureTemporalCluster();
  checkPromtool();
  log(`done in ${seconds(started)}`);
} catch (error) {
  if (!(error instanceof BootstrapError)) throw error;
  console.error(`[bootstrap] FAILED: ${error.message}`);
  process.exitCode = 1;
}
