// The test helpers in one module, for tests and `npm run bench`.
export * from './common.js';
export * from './netns.js';
export * from './daemon.js';
export * from './nats.js';
