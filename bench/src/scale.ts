/** How much work each bench does: the full run (`npm run bench`) or the smoke run (`--smoke`). */
export interface Scale {
  readonly mode: "full" | "smoke";
  /** Baseline and flame-ts runs alternate this many times; figures are the medians. */
  readonly rounds: number;
  /** Picks a count: `full` for the real run, `smoke` for the never-rot run. */
  pick(full: number, smoke: number): number;
}

export function scaleFor(mode: "full" | "smoke"): Scale {
  return {
    mode,
    rounds: mode === "full" ? 3 : 1,
    pick: (full, smoke) => (mode === "full" ? full : smoke),
  };
}
