/**
 * What the app's log says about strangers on the runner port. A crowd of refused upgrades
 * must not become a crowd of log lines, and nothing a stranger chose (its headers, its
 * runner id, its token) is ever written: the first refusal is logged at once (an operator
 * sees a misconfigured runner or an attack right away), later ones are counted by reason and
 * summarised in one line per window. Reasons are the gate's fixed words; sources are peer
 * addresses as the kernel reports them.
 */
import type { LinkLog } from "./log.js";
import type { RefusalReason } from "./upgrade-gate.js";

/** At most one summary line per this window (and one line at its start). */
const REFUSAL_LOG_WINDOW_MS = 60_000;
/** Distinct sources remembered per window; beyond it they are counted, not named. */
const MAX_SOURCES = 1_000;

export class RefusalLog {
  private window: NodeJS.Timeout | null = null;
  private refused = 0;
  private readonly reasons = new Map<RefusalReason, number>();
  private readonly sources = new Map<string, number>();
  private otherSources = 0;

  constructor(
    private readonly log: LinkLog,
    private readonly windowMs: number = REFUSAL_LOG_WINDOW_MS,
  ) {}

  record(why: RefusalReason, source: string): void {
    if (this.window === null) {
      this.log("warn", "UNAUTHORIZED: runner port refused a stranger", {
        code: "UNAUTHORIZED",
        reason: why,
        source,
        note: `further refusals are summarised at most every ${Math.round(this.windowMs / 1_000)} s`,
      });
      this.openWindow();
      return;
    }
    this.refused += 1;
    this.reasons.set(why, (this.reasons.get(why) ?? 0) + 1);
    if (this.sources.has(source) || this.sources.size < MAX_SOURCES) {
      this.sources.set(source, (this.sources.get(source) ?? 0) + 1);
    } else {
      this.otherSources += 1;
    }
  }

  /** Writes what is still counted; called when the port closes. */
  close(): void {
    if (this.window !== null) clearTimeout(this.window);
    this.window = null;
    this.flush();
  }

  private openWindow(): void {
    // Logging hygiene, not call policy: unref'd, and cleared when the port closes.
    this.window = setTimeout(() => {
      this.window = null;
      // A quiet window ends the summaries; the next refusal is logged at once again.
      if (this.flush()) this.openWindow();
    }, this.windowMs);
    this.window.unref();
  }

  /** Logs the summary if anything was counted; says whether it did. */
  private flush(): boolean {
    if (this.refused === 0) return false;
    let busiest: [string, number] | undefined;
    for (const entry of this.sources)
      if (busiest === undefined || entry[1] > busiest[1]) busiest = entry;
    this.log("warn", `UNAUTHORIZED: runner port refused ${this.refused} more strangers`, {
      code: "UNAUTHORIZED",
      refused: this.refused,
      reasons: Object.fromEntries(this.reasons),
      sources: this.sources.size,
      ...(this.otherSources > 0 ? { fromUnnamedSources: this.otherSources } : {}),
      ...(busiest === undefined ? {} : { busiestSource: busiest[0], fromBusiest: busiest[1] }),
    });
    this.refused = 0;
    this.reasons.clear();
    this.sources.clear();
    this.otherSources = 0;
    return true;
  }
}
