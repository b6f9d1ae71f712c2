// One jest project per package plus the cross-package tests, so `npm test` runs all.
const os = require('node:os');

const packages = { shared: 'shared', coordinator: 'coordinator', agent: 'participant-agent', e2e: 'test' };

const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/../tsconfig.spec.json' }] },
  // Tests run the TypeScript sources; child processes started by tests run the built dist.
  moduleNameMapper: {
    '^@fl/shared$': '<rootDir>/../shared/src',
    '^@fl/coordinator$': '<rootDir>/../coordinator/src',
    '^@fl/participant-agent$': '<rootDir>/../participant-agent/src',
  },
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
};

module.exports = {
  // Two files at once even on two cores (jest's default there is one): a file's processes wait on each other often enough to leave a core idle.
  maxWorkers: Math.max(2, os.availableParallelism() - 1),
  projects: Object.entries(packages).map(([displayName, dir]) => ({
    ...common,
    displayName,
    rootDir: `<rootDir>/${dir}`,
  })),
};
