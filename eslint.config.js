import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.serverless/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Product code must never reach into the twin or tests (they are not bundled into a Lambda).
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['functions/**/*.ts', 'shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/test/**', '**/twin/**', '**/sandbox/**'],
              message: 'Product code must not import the twin or tests.',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests, benches and their driver read JSON from the sandbox routes; typing every response shape adds nothing there.
    files: ['test/**/*.test.ts', 'test/bench/**/*.ts', 'test/support/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', module: 'writable', require: 'readonly' },
    },
  },
  {
    // Serverless loads variable sources with require(); these files must stay CommonJS.
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
