const http = require('http');
http.request({ socketPath: '/tmp/idle/s.sock', path: '/v1/status', agent: false }, (res) => { let d = ''; res.on('data', (c) => d += c); res.on('end', () => process.stdout.write(d.length + '\n')); }).end();
