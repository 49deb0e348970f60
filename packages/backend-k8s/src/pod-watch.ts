/**
 * One watch of a backend's runner pods, shared by every boot and runner of that backend:
 * `@kubernetes/client-node`'s informer (a list, then a watch from its resourceVersion; a
 * watch the server ends is resumed from the last version seen, and a "410 Gone" relists).
 * What the informer leaves to its user is done here: after an error (a reset connection, an
 * API server restart) watching starts again with a backoff, and each followed pod is told its
 * state as the fresh list has it (null if it went meanwhile). Nothing here polls.
 *
 * Each start uses an informer of its own and a stopped one is ignored from then on: an
 * informer's late error for a request it already aborted would otherwise abort its successor.
 *
 * Followers subscribe by pod name. A pod's first events may arrive before `create` returns
 * its name, so `follow` hands the follower the cached object at once if there is one.
 */
import {
  type CoreV1Api,
  type Informer,
  type KubeConfig,
  makeInformer,
  type ObjectCache,
  type V1Pod,
} from "@kubernetes/client-node";
import { apiMessage, apiStatus } from "./api-errors.js";

/** `pod` is null once the pod is gone from the API. */
export type PodListener = (pod: V1Pod | null) => void;

type PodInformer = Informer<V1Pod> & ObjectCache<V1Pod>;

const RESTART_FIRST_DELAY_MS = 100;
const RESTART_MAX_DELAY_MS = 5_000;

export class PodWatch {
  readonly #kubeConfig: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #namespace: string;
  readonly #labelSelector: string;
  readonly #listeners = new Map<string, Set<PodListener>>();
  /** The informer in use: listing, watching, or failed and waiting for its restart. */
  #informer: PodInformer | null = null;
  #starting: Promise<void> | null = null;
  /** Boots between `ensureStarted` and `follow`: the watch must not stop under them. */
  #holds = 0;
  #running = false;
  #failures = 0;
  #restartTimer: NodeJS.Timeout | null = null;
  /** Watch errors, for the backend's log (the boot that waits reports its own timeout). */
  onTrouble: (message: string) => void = () => {};

  constructor(kubeConfig: KubeConfig, core: CoreV1Api, namespace: string, labelSelector: string) {
    this.#kubeConfig = kubeConfig;
    this.#core = core;
    this.#namespace = namespace;
    this.#labelSelector = labelSelector;
  }

  /**
   * Keeps the watch from stopping while a boot goes from `ensureStarted` to `follow` (its pod
   * has no name to follow yet). Call the returned function once the pod is followed, or the
   * boot failed.
   */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.#stopIfIdle();
    };
  }

  /**
   * Resolves once the watch is listed and watching. Rejects with the API's error when that
   * fails at once (a 403 names the missing verb), so a boot reports it instead of waiting.
   */
  ensureStarted(): Promise<void> {
    if (this.#running) return Promise.resolve();
    this.#starting ??= this.#start().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  /** Follows one pod by name: the listener gets every change, then null once it is gone. */
  follow(name: string, listener: PodListener): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener);
    const cached = this.#informer?.get(name, this.#namespace);
    if (cached !== undefined) listener(cached);
    // Followed while stopped (or failed): watch again; the fresh list tells this pod's state.
    if (!this.#running && this.#restartTimer === null) {
      this.ensureStarted().catch((error: unknown) => this.#scheduleRestart(error));
    }
    let followed = true;
    return () => {
      if (!followed) return;
      followed = false;
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(name) === set) this.#listeners.delete(name);
      this.#stopIfIdle();
    };
  }

  /** Nothing followed and no boot under way: stop (an open watch keeps the process alive). */
  #stopIfIdle(): void {
    if (this.#listeners.size === 0 && this.#holds === 0 && this.#starting === null) this.stop();
  }

  /** Stops watching. The next boot starts again. */
  stop(): void {
    this.#running = false;
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    const informer = this.#informer;
    this.#informer = null;
    void informer?.stop();
  }

  async #start(): Promise<void> {
    void this.#informer?.stop();
    const informer = this.#makeInformer();
    this.#informer = informer;
    let failure: unknown = null;
    const onError = (error: unknown) => {
      failure = error;
    };
    informer.on("error", onError);
    await informer.start();
    informer.off("error", onError);
    if (failure !== null || this.#informer !== informer) {
      void informer.stop();
      if (this.#informer === informer) this.#informer = null;
      throw watchRefusal(failure ?? new Error("stopped while starting"), this.#namespace);
    }
    informer.on("error", (error: unknown) => this.#failed(informer, error));
    this.#running = true;
    this.#failures = 0;
    this.#resync(informer);
  }

  #makeInformer(): PodInformer {
    const core = this.#core;
    const informer = makeInformer(
      this.#kubeConfig,
      `/api/v1/namespaces/${this.#namespace}/pods`,
      () =>
        core.listNamespacedPod({ namespace: this.#namespace, labelSelector: this.#labelSelector }),
      this.#labelSelector,
    );
    const current = () => this.#informer === informer;
    informer.on("add", (pod) => current() && this.#deliver(pod.metadata?.name, pod));
    informer.on("update", (pod) => current() && this.#deliver(pod.metadata?.name, pod));
    informer.on("delete", (pod) => current() && this.#deliver(pod.metadata?.name, null));
    return informer;
  }

  #deliver(name: string | undefined, pod: V1Pod | null): void {
    if (name === undefined) return;
    const set = this.#listeners.get(name);
    if (set === undefined) return;
    for (const listener of [...set]) listener(pod);
  }

  /** After a (re)start: what the fresh list says about every followed pod. */
  #resync(informer: PodInformer): void {
    for (const name of [...this.#listeners.keys()]) {
      this.#deliver(name, informer.get(name, this.#namespace) ?? null);
    }
  }

  #failed(informer: PodInformer, error: unknown): void {
    if (this.#informer !== informer || !this.#running) return; // a stopped informer's late news
    this.#running = false;
    this.#scheduleRestart(error);
  }

  #scheduleRestart(error: unknown): void {
    if (this.#restartTimer !== null || (this.#listeners.size === 0 && this.#holds === 0)) return;
    this.#failures++;
    const delayMs = Math.min(
      RESTART_FIRST_DELAY_MS * 2 ** (this.#failures - 1),
      RESTART_MAX_DELAY_MS,
    );
    this.onTrouble(`pod watch failed (${apiMessage(error)}); watching again in ${delayMs} ms`);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#listeners.size === 0 && this.#holds === 0) return;
      this.ensureStarted().catch((again: unknown) => this.#scheduleRestart(again));
    }, delayMs);
    this.#restartTimer.unref();
  }
}

/**
 * A refused list keeps Kubernetes' own message (it names the verb); a refused watch comes back
 * as a bare HTTP status from the watch request, so say which verb on what was refused.
 */
function watchRefusal(error: unknown, namespace: string): unknown {
  const status = apiStatus(error);
  if (status === null || (error as { body?: unknown }).body !== undefined) return error;
  return Object.assign(
    new Error(
      `cannot watch pods in the namespace "${namespace}" (HTTP ${status} ${apiMessage(error)})`,
    ),
    { code: status },
  );
}
