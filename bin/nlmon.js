#!/usr/bin/env node
'use strict';
const { main } = require('../dist/bin/cli.cjs');

// A reader that stops reading (`nlmon hooks list | head -1`) is not an error: exit quietly.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`nlmon: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 1; },
);
