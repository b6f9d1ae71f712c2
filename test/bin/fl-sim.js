#!/usr/bin/env node
// Runs the built CLI (npm run build makes dist/).
require('../dist/sim/cli.js');
