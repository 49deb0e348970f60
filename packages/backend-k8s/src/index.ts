export { KubernetesBackend } from "./kubernetes-backend.js";
export { ANNOTATION, DEFAULT_APP, LABEL } from "./labels.js";
export {
  DEFAULT_KUBERNETES_LISTEN_PORT,
  type KubernetesListenOptions,
  kubernetesListenOptions,
} from "./listen.js";
export type {
  DeepPartial,
  KubernetesBackendOptions,
  ParentPodRef,
  PodTemplate,
  ResourceQuantities,
  RunnerResources,
} from "./options.js";
export { PERMANENT_WAITING_REASONS, RUNNER_CONTAINER } from "./pod-status.js";
export {
  DEFAULT_REAP_OLDER_THAN_MS,
  type ReapedObject,
  type ReapOrphansOptions,
  type ReapReport,
} from "./reaper.js";
