// The V8 options the shipped units start the daemon with (the systemd unit's and the image's
// NODE_OPTIONS; docs/fleet.md, "Memory"). A young generation of 2 MB a semi-space, where Node's
// default grows to 16: a burst of events is short-lived garbage, and the default's growth stays
// resident after it (measured in the README: about 30 MB more after a burst, for no less CPU).
// The old generation is left to Node, which sizes it from the memory it may use.
export const DAEMON_NODE_OPTIONS = '--max-semi-space-size=2';
