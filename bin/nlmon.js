#!/usr/bin/env node
import { main } from '../dist/src/cli/cli.js';

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`nlmon: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 1; },
);
