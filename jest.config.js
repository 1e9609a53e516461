/** @type {import('jest').Config} */
const shared = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true }] },
};

module.exports = {
  projects: [
    // Pure logic, fakes and the file system only: no servers are started when only these run.
    { ...shared, displayName: 'unit', testMatch: ['**/*.unit.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['\\.unit\\.test\\.ts$'],
      // One real Temporal server and one fresh PostgreSQL database, started once when any of these runs.
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
  // Two cores host the Temporal server, PostgreSQL, workers and the tests themselves.
  maxWorkers: 2,
  testTimeout: 60_000,
  // The Temporal Runtime's native threads keep a jest worker alive after its last test; every test closes what
  // it opened, so exiting is safe.
  forceExit: true,
  verbose: true,
};
