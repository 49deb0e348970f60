/** Callbacks on scaling: `onGrowStart`, `onGrowEnd`, `onShrink`. */
import { hook } from "./checks.js";

export interface GrowMeta {
  readonly name: string;
  /** Runners (ready + booting) after the change. */
  readonly count: number;
}
export type GrowResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface HookOptions {
  /**
   * Called when the pool starts booting a runner, with the pool's name and its runner count
   * after the change. Default: none. A throwing hook is logged, never breaks the pool.
   */
  readonly onGrowStart?: (meta: GrowMeta) => void;
  /**
   * Called when that boot ended: `{ ok: true }`, or `{ ok: false, error }` with the boot's
   * error message. Default: none. A throwing hook is logged, never breaks the pool.
   */
  readonly onGrowEnd?: (result: GrowResult, meta: GrowMeta) => void;
  /**
   * Called when a runner left the pool (idle, single use, resize, crash, stop). Default:
   * none. A throwing hook is logged, never breaks the pool.
   */
  readonly onShrink?: (meta: GrowMeta) => void;
}

export interface ResolvedHooks {
  readonly onGrowStart: ((meta: GrowMeta) => void) | null;
  readonly onGrowEnd: ((result: GrowResult, meta: GrowMeta) => void) | null;
  readonly onShrink: ((meta: GrowMeta) => void) | null;
}

export function resolveHooks(o: HookOptions): ResolvedHooks {
  return {
    onGrowStart: hook("onGrowStart", o.onGrowStart),
    onGrowEnd: hook("onGrowEnd", o.onGrowEnd),
    onShrink: hook("onShrink", o.onShrink),
  };
}
