// Lint for correctness and for structure: the dependency rules of DESIGN.md and STYLE.md are
// enforced here, not left to review.
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import { createNodeResolver, flatConfigs as importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** What deterministic workflow code may never import: I/O libraries and the non-workflow SDK packages. */
const ioLibraries = [
  'pg',
  'pg-*',
  'kafkajs',
  'fastify',
  '@fastify/*',
  'nodemailer',
  'smtp-server',
  'pino',
  'undici',
  'axios',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/testing',
  '@opentelemetry/*',
];

/** Rules for files that run inside the Temporal workflow sandbox (deterministic, replayed). */
const workflowSandboxRules = {
  'import-x/no-nodejs-modules': ['error'],
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: [
        { group: ioLibraries, message: 'Workflow code is replayed and must be deterministic: do I/O in an activity.' },
        {
          group: ['**/activities', '**/activities/**', '**/*activities*'],
          allowTypeImports: true,
          message: 'Workflows import only the types of activities (use proxyActivities).',
        },
        {
          group: ['../*', '!../domain', '!../domain/**', '!../activities', '!../activities/**'],
          message: 'Workflows import only @temporalio/workflow, src/domain and the types of activities.',
        },
      ],
    },
  ],
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
    { name: 'setInterval', message: 'Use sleep() in a loop.' },
  ],
};

/**
 * DESIGN.md's dependency rules ("Layout"): what each folder of src/ may import of ours, besides
 * itself. Dependencies point inward; the two flows (workflows, activities, orchestration on one
 * side, choreography on the other) never import each other; the API and the CLIs reach a flow only
 * through the flows port (src/flows); observability depends on nothing above platform and domain;
 * only the process entry points (workers) wire everything together.
 */
const layers = {
  domain: [],
  platform: ['domain'],
  observability: ['platform', 'domain'],
  contexts: ['domain', 'platform'],
  messaging: ['domain', 'platform', 'observability'],
  // And the types of activities (below): workflow code runs in the sandbox.
  workflows: ['domain'],
  activities: ['contexts', 'messaging', 'domain', 'platform', 'observability'],
  // The port (src/flows) is what each flow implements; it knows neither implementation.
  flows: ['domain', 'platform'],
  orchestration: ['flows', 'workflows', 'domain', 'platform', 'observability'],
  choreography: ['flows', 'contexts', 'messaging', 'domain', 'platform', 'observability'],
  projections: ['messaging', 'domain', 'platform', 'observability'],
  gateway: ['domain', 'platform'],
  'smtp-sink': ['domain', 'platform'],
  // The local OpenID Connect provider (for the stack and the tests; production uses its own).
  identity: ['domain', 'platform'],
  demo: ['domain', 'platform'],
  // The web console runs in the browser: it speaks to the API over HTTP only.
  console: [],
  api: ['flows', 'projections', 'contexts', 'messaging', 'domain', 'platform', 'observability'],
  // The CLIs wire what they run (src/workers holds the wiring), but reach a flow only through the port, as the API does.
  cli: ['workers', 'api', 'flows', 'projections', 'contexts', 'messaging', 'gateway', 'smtp-sink', 'identity', 'demo', 'domain', 'platform', 'observability'],
  // The choreographed flow's operator tools (dead letters, replays, stalled orders): they know its consumer groups.
  'choreography-operations-cli': ['choreography', 'contexts', 'messaging', 'domain', 'platform', 'observability'],
  workers: null,
};
const layerTypes = Object.keys(layers);

/** The boundaries/dependencies policies of {@link layers}: each folder is denied the folders it may not import. */
const layerPolicies = [
  ...Object.entries(layers)
    .filter(([, allowed]) => allowed !== null)
    .map(([type, allowed]) => ({
      from: { element: { type } },
      disallow: [{ to: { element: { type: layerTypes.filter((other) => other !== type && !allowed.includes(other)) } } }],
      message: `src/${type} may import only ${allowed.length === 0 ? 'nothing of ours' : allowed.map((t) => `src/${t}`).join(', ')} (DESIGN.md "Layout")`,
    })),
  { from: { element: { type: 'workflows' } }, allow: [{ to: { element: { type: 'activities' } }, dependency: { kind: 'type' } }] },
];

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'dist/', 'coverage/', 'test/fixtures/lint-violations/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  importX.recommended,
  importX.typescript,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'infra/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs', '.json'] })] },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'import-x/no-cycle': 'error',
      'import-x/no-self-import': 'error',
      'import-x/no-extraneous-dependencies': ['error', { devDependencies: ['test/**', 'infra/**', 'bench/**', '*.config.*'] }],
      'import-x/no-duplicates': 'error',
      'import-x/no-named-as-default-member': 'off',
      'no-console': 'off',
    },
  },
  {
    // DESIGN.md's layering, on src/ and on the lint fixtures laid out as src/ (test/fixtures/lint-violations/boundaries/src).
    plugins: { boundaries },
    settings: {
      'boundaries/elements': [
        { type: 'choreography-operations-cli', pattern: 'src/cli/choreography-operations' },
        ...layerTypes.filter((type) => type !== 'choreography-operations-cli').map((type) => ({ type, pattern: `src/${type}` })),
      ],
    },
    rules: {
      'boundaries/dependencies': ['error', { default: 'allow', policies: layerPolicies }],
    },
  },
  {
    // Workflow code, and the workflow fixtures of the tests, run in the sandbox.
    files: ['src/workflows/**/*.ts', 'bench/workflows/**/*.ts', 'test/fixtures/workflows/**/*.ts', 'test/fixtures/lint-violations/**/*.ts'],
    rules: workflowSandboxRules,
  },
  {
    // Only process entry points wire things together; the domain imports nothing of ours.
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../*'], message: 'src/domain is the pure core: it imports nothing of ours.' }] },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: globals.node },
  },
);
