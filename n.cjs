const net = require('net');
const s = net.connect('/tmp/idle/s.sock'); const chunks = [];
s.on('data', (c) => chunks.push(c)); s.on('end', () => process.stdout.write(Buffer.concat(chunks).length + '\n'));
s.end('GET /v1/status HTTP/1.0\r\nHost: localhost\r\n\r\n');
