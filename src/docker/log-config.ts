// Docker keeps each container's output so that its log API (which the shim follows to write the
// CRI log file) can serve it. Left alone, json-file grows without bound: every line would be
// stored twice, once of it forever. Containers the shim creates get a capped Docker log instead;
// the CRI file is the one the kubelet rotates (ReopenContainerLog).

/** Docker's copy: two files of 10 MB at most per container, plenty for the follower to keep up. */
export const DOCKER_LOG_MAX_SIZE = '10m';
export const DOCKER_LOG_MAX_FILE = '2';

export interface DockerLogConfig {
  Type: string;
  Config: Record<string, string>;
}

/**
 * The LogConfig for a new container, given the daemon's default logging driver. json-file and
 * local get the cap (other options set in daemon.json still apply: Docker fills in what a
 * container's config leaves out). Any other driver (journald, fluentd, ...) is the operator's
 * choice and is left alone: Docker then serves the log API from its own bounded cache
 * ("dual logging", 5 files of 20 MB by default).
 */
export function dockerLogConfig(defaultDriver: string | undefined): DockerLogConfig | undefined {
  if (defaultDriver !== 'json-file' && defaultDriver !== 'local') return undefined;
  return { Type: defaultDriver, Config: { 'max-size': DOCKER_LOG_MAX_SIZE, 'max-file': DOCKER_LOG_MAX_FILE } };
}
