export { DockerBackend } from "./docker-backend.js";
export { LABEL, type ParentIdentity } from "./labels.js";
export type { DockerBackendOptions, DockerConnection, PullPolicy } from "./options.js";
export { isParentAliveOnThisHost } from "./parent-liveness.js";
export {
  type ReapedContainer,
  type ReapOrphansOptions,
  type ReapReport,
  reapOrphans,
} from "./reaper.js";
