// An example module handler (docs/hooks.md, "Module handlers"): called in a worker thread with
// each matching event; returning is a success, throwing a failure.
export default function handle(event, { hook, log }) {
  log(`${hook}: ${event.event} ${event.interface} of container ${event.container_name} (${event.container_runtime})`);
}
