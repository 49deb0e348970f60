/** Which pool this is and where its runners live: `name`, `backend`. */
import type { Backend } from "../backend.js";
import { invalidOption } from "../errors.js";

const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

export interface IdentityOptions {
  /**
   * The pool's name: 1–63 letters, digits, `-` or `_`, starting with a letter or digit.
   * Required. Runner ids are built from it (`thumbs-1f2e3d4c17`), and telemetry and the
   * dashboard show it.
   */
  readonly name: string;
  /**
   * Where runners live: `new LocalBackend({ entry })` (child processes of this machine),
   * `DockerBackend`, `FlyBackend`, `KubernetesBackend`. Required.
   */
  readonly backend: Backend;
}

export interface ResolvedIdentity {
  readonly name: string;
  readonly backend: Backend;
}

export function resolveIdentity(o: IdentityOptions): ResolvedIdentity {
  if (typeof o.name !== "string" || !NAME_PATTERN.test(o.name)) {
    throw invalidOption("name", "1-63 letters, digits, '-' or '_' (used in runner ids)", o.name);
  }
  if (
    typeof o.backend !== "object" ||
    o.backend === null ||
    typeof (o.backend as Backend).boot !== "function"
  ) {
    throw invalidOption("backend", "a Backend (e.g. new LocalBackend({ entry }))", o.backend);
  }
  return { name: o.name, backend: o.backend };
}
