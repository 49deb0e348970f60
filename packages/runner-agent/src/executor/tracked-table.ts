/**
 * The values one worker thread keeps for `ctx.track` (the inline executor keeps one table
 * too), by group (the id, on the link, of the call that tracked them) and index (that call's
 * `track`s counted from 0). What becomes of each value, by how its call ended:
 * - it answered, and the result carries the value's reference: kept until `release`;
 * - it answered without carrying it, threw, or its result could not be encoded: disposed at once;
 * - the parent never saw its answer (answered early, `discard`): disposed;
 * - `release(group, index)`: disposed once no pinned call on the group runs, then reported;
 * - the runner leaves (`disposeAll`): disposed, whatever runs.
 * Each dispose runs at most once; what it throws is reported (`released.error`) or written to
 * stderr, never thrown at the agent.
 */
import { type Dispose, FlameError, type Tracked, toWireError } from "@flame-ts/pool-core/protocol";
import {
  formatTrackedRef,
  parseTrackedRef,
  replaceTrackedRefs,
  TRACKED_KEY,
  trackedRefOf,
  type WireError,
} from "@flame-ts/pool-core/wire";

interface Entry {
  readonly value: unknown;
  readonly dispose: Dispose<unknown> | undefined;
  /** The parent released it: gone for new pinned calls, disposed once the running one ends. */
  releasing: boolean;
}

interface Group {
  readonly entries: Map<number, Entry>;
  nextIndex: number;
  /** Pinned calls on this group running now: a release waits for them. */
  pinnedRunning: number;
  /** Released while a pinned call ran: disposed (and reported) when it ends. */
  readonly deferred: number[];
}

export interface TrackedTableSettings {
  readonly runnerId: string;
  /** A released value was disposed (`error`: its dispose threw), or was unknown here. */
  readonly released: (group: number, index: number, error?: WireError) => void;
  /** A dispose nobody waits for threw. */
  readonly warn: (message: string) => void;
}

const NONE: readonly number[] = [];

export class TrackedTable {
  readonly #groups = new Map<number, Group>();
  readonly #settings: TrackedTableSettings;
  #closed = false;

  constructor(settings: TrackedTableSettings) {
    this.#settings = settings;
  }

  /** Keeps `value` for call `group` and returns its reference (what the result carries). */
  track<T>(group: number, value: T, dispose: Dispose<T> | undefined): Tracked<T> {
    if (this.#closed) {
      throw new TypeError("ctx.track: the runner is leaving and keeps nothing more");
    }
    let g = this.#groups.get(group);
    if (g === undefined) {
      g = { entries: new Map(), nextIndex: 0, pinnedRunning: 0, deferred: [] };
      this.#groups.set(group, g);
    }
    const index = g.nextIndex++;
    g.entries.set(index, {
      value,
      dispose: dispose as Dispose<unknown> | undefined,
      releasing: false,
    });
    const ref = formatTrackedRef({ runnerId: this.#settings.runnerId, group, index });
    return new TrackedReference(ref, this) as unknown as Tracked<T>;
  }

  /** The live value `handle` refers to; RESOURCE_GONE when this thread does not hold it. */
  get(handle: unknown): unknown {
    const ref = trackedRefOf(handle);
    if (ref === undefined) {
      throw new TypeError(
        "ctx.get takes a tracked handle: the Tracked the caller received, or what ctx.track returned",
      );
    }
    const entry = this.#entry(ref);
    if (entry === undefined) {
      throw new FlameError(
        "RESOURCE_GONE",
        `tracked value ${ref} is not held here (runner ${this.#settings.runnerId}): it was released, lost with its thread, or lives elsewhere; pin the call to it with { on: handle }`,
      );
    }
    return entry.value;
  }

  /** Whether `ref` still names a value kept here (not yet disposed). */
  holdsRef(ref: string): boolean {
    return this.#entry(ref) !== undefined;
  }

  /** Whether a pinned call on `group` may run: it holds a value not being released. */
  holds(group: number): boolean {
    const g = this.#groups.get(group);
    if (g === undefined) return false;
    for (const entry of g.entries.values()) if (!entry.releasing) return true;
    return false;
  }

  /** Which of call `group`'s values the result `value` carries (its own references only). */
  carriedBy(group: number, value: unknown): readonly number[] {
    const g = this.#groups.get(group);
    if (g === undefined) return NONE;
    const carried = new Set<number>();
    const { runnerId } = this.#settings;
    replaceTrackedRefs(value, (ref, reference) => {
      const parsed = parseTrackedRef(ref);
      if (parsed?.runnerId === runnerId && parsed.group === group && g.entries.has(parsed.index)) {
        carried.add(parsed.index);
      }
      return reference;
    });
    return [...carried].sort((a, b) => a - b);
  }

  /** Call `group` answered carrying `kept`: its other values are disposed now. */
  keep(group: number, kept: readonly number[]): void {
    const g = this.#groups.get(group);
    if (g === undefined) return;
    for (const [index, entry] of g.entries) {
      if (!kept.includes(index)) this.#disposeQuietly(group, g, index, entry);
    }
  }

  /** Every value of call `group` is disposed now (it threw, or nobody saw its answer). */
  discard(group: number): void {
    const g = this.#groups.get(group);
    if (g === undefined) return;
    for (const [index, entry] of g.entries) this.#disposeQuietly(group, g, index, entry);
  }

  /** The parent let go of value `index` of `group`; answered by `released` in every case. */
  release(group: number, index: number): void {
    const g = this.#groups.get(group);
    const entry = g?.entries.get(index);
    if (g === undefined || entry === undefined) {
      // Idempotent: the parent may release what was already disposed or lost.
      this.#settings.released(group, index);
      return;
    }
    if (entry.releasing) return;
    entry.releasing = true;
    if (g.pinnedRunning > 0) g.deferred.push(index);
    else void this.#disposeReported(group, g, index, entry);
  }

  /** A call pinned to `group` starts (the caller checked `holds`). */
  pinnedStarted(group: number): void {
    const g = this.#groups.get(group);
    if (g !== undefined) g.pinnedRunning += 1;
  }

  /** …and ended (after its answer was handed on): releases that waited for it run now. */
  pinnedEnded(group: number): void {
    const g = this.#groups.get(group);
    if (g === undefined) return;
    g.pinnedRunning -= 1;
    if (g.pinnedRunning > 0) return;
    for (const index of g.deferred.splice(0)) {
      const entry = g.entries.get(index);
      if (entry !== undefined) void this.#disposeReported(group, g, index, entry);
    }
  }

  /**
   * The runner is leaving: every value is disposed now, pinned calls or not, and nothing more
   * can be tracked. Resolves once every dispose settled (the caller bounds the wait).
   */
  disposeAll(): Promise<void> {
    this.#closed = true;
    const all: Promise<unknown>[] = [];
    for (const [group, g] of this.#groups) {
      for (const [index, entry] of g.entries)
        all.push(this.#disposeQuietly(group, g, index, entry));
    }
    return Promise.all(all).then(() => {});
  }

  #entry(ref: string): Entry | undefined {
    const parsed = parseTrackedRef(ref);
    if (parsed === null || parsed.runnerId !== this.#settings.runnerId) return undefined;
    return this.#groups.get(parsed.group)?.entries.get(parsed.index);
  }

  async #disposeReported(group: number, g: Group, index: number, entry: Entry): Promise<void> {
    const error = await this.#dispose(group, g, index, entry);
    this.#settings.released(group, index, error);
  }

  async #disposeQuietly(group: number, g: Group, index: number, entry: Entry): Promise<void> {
    const error = await this.#dispose(group, g, index, entry);
    if (error !== undefined) {
      const ref = formatTrackedRef({ runnerId: this.#settings.runnerId, group, index });
      this.#settings.warn(`tracked value ${ref}: dispose threw: ${error.message}`);
    }
  }

  /** Forgets the entry first (so it is disposed once), then runs its dispose. */
  async #dispose(
    group: number,
    g: Group,
    index: number,
    entry: Entry,
  ): Promise<WireError | undefined> {
    g.entries.delete(index);
    if (g.entries.size === 0) this.#groups.delete(group);
    try {
      await entry.dispose?.(entry.value);
      return undefined;
    } catch (error) {
      return toWireError(error);
    }
  }
}

/**
 * What `ctx.track` returns: its one own enumerable property is the reference (all a codec
 * carries); the rest of `Tracked` lives on the prototype, for a function that looks at it.
 */
class TrackedReference {
  readonly [TRACKED_KEY]: string;
  readonly #table: TrackedTable;

  constructor(ref: string, table: TrackedTable) {
    this[TRACKED_KEY] = ref;
    this.#table = table;
  }

  get runnerId(): string {
    return parseTrackedRef(this[TRACKED_KEY])?.runnerId ?? "";
  }

  get released(): boolean {
    return !this.#table.holdsRef(this[TRACKED_KEY]);
  }

  release(): Promise<void> {
    return Promise.reject(
      new TypeError(
        "a tracked value is released by its caller (handle.release()); inside the function, leave it out of the result and it is disposed when the call ends",
      ),
    );
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
