// The defaults of every config key (docs/config.md), in one place: the config loader fills
// them in, and the verbs that run without a config file (`monitor`, the daemon verbs) use them.

export const DEFAULT_NETNS_DIRS: readonly string[] = ['/var/run/netns', '/var/run/docker/netns'];
export const DEFAULT_RECEIVE_BUFFER = 16 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT = 10;
export const DEFAULT_QUEUE_LIMIT = 10000;
export const DEFAULT_HOOK_LOG = '/var/log/nlmon/hook.log';
export const DEFAULT_TIMEOUT_MS = 30000;
export const DEFAULT_SOCKET = '/run/nlmon/nlmon.sock';
/** Engine API sockets asked for containers, in order: Docker's, then Podman's (same API). */
export const DEFAULT_DOCKER_SOCKETS: readonly string[] = ['/var/run/docker.sock', '/run/podman/podman.sock'];
/** CRI sockets asked for pod sandboxes, in order: containerd's, then CRI-O's. */
export const DEFAULT_CRI_SOCKETS: readonly string[] = ['/run/containerd/containerd.sock', '/var/run/crio/crio.sock'];
export const DEFAULT_CONTAINER_WAIT_MS = 1000;
/** How often a webhook is tried again after a failed attempt. */
export const DEFAULT_RETRIES = 3;
/** Where a nats output keeps its spool when spool_dir is not given: DIR/<output name>. */
export const DEFAULT_SPOOL_DIR = '/var/lib/nlmon/spool';
/** A nats output's spool: at most this many bytes on disk (1 GiB), at least MIN_SPOOL_LIMIT. */
export const DEFAULT_SPOOL_LIMIT = 1024 * 1024 * 1024;
export const MIN_SPOOL_LIMIT = 64 * 1024;
