/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Two cores host the Temporal server, PostgreSQL, workers and the tests themselves.
  maxWorkers: 2,
  testTimeout: 60_000,
  // The Temporal Runtime's native threads keep a jest worker alive after its last test; every test closes what
  // it opened, so exiting is safe.
  forceExit: true,
  verbose: true,
};
