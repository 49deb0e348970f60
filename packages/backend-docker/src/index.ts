export { isParentAliveOnThisHost, type ParentIdentity } from "@flame-ts/pool-core";
export { DEFAULT_MEMORY_MB, DEFAULT_PIDS_LIMIT, DEFAULT_USER } from "./container-limits.js";
export { DockerBackend } from "./docker-backend.js";
export { DEFAULT_APP, LABEL } from "./labels.js";
export type { DockerBackendOptions, DockerConnection, PullPolicy } from "./options.js";
export {
  DEFAULT_REAP_OLDER_THAN_MS,
  type ReapedContainer,
  type ReapOrphansOptions,
  type ReapReport,
  reapOrphans,
} from "./reaper.js";
