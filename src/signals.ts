// SIGINT/SIGTERM for the verbs that run until stopped: the first one calls the handler, later
// ones are ignored (a stop in progress is not cut short) until the returned function removes
// the listeners.

export function onStopSignal(handler: (signal: NodeJS.Signals) => void): () => void {
  let fired = false;
  const listener = (signal: NodeJS.Signals) => {
    if (fired) return;
    fired = true;
    handler(signal);
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}
