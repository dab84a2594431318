// Where the control socket is when the config does not say (`control.socket`, docs/config.md):
// what the daemon listens on and the CLI asks, kept apart so the CLI need not load the config.
export const DEFAULT_SOCKET = '/run/nlmon/nlmon.sock';
