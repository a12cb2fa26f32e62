// ESLint with typescript-eslint's type-aware rules, run by `npm test` (npm run lint); it must be clean.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Rules every TypeScript file follows, tests included. */
const ALWAYS = {
  // Promises are awaited or handled: a floating one loses its error, a misused one runs unawaited.
  '@typescript-eslint/no-floating-promises': 'error',
  '@typescript-eslint/no-misused-promises': 'error',
  // Unused names are errors, but those starting with `_` (dropped by destructuring on purpose).
  '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', destructuredArrayIgnorePattern: '^_' }],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  // The product: every type-aware rule of typescript-eslint's recommendation.
  {
    files: ['src/**/*.ts', 'mappings/**/*.ts', 'bench/**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    rules: {
      ...ALWAYS,
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // Handlers and queue definitions are async by their interface, awaiting or not.
      '@typescript-eslint/require-await': 'off',
    },
  },
  // Tests read untyped JSON answers (supertest's `body`) all along: the rules on `any` would flag each read.
  {
    files: ['test/**/*.ts', 'src/**/*.test.ts', 'mappings/**/*.test.ts', 'vitest.config.ts'],
    extends: [...tseslint.configs.recommended],
    rules: {
      ...ALWAYS,
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], extends: [tseslint.configs.disableTypeChecked] }
);
