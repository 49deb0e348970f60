/** Waiting with an upper bound (the agent's way out must never hang on user code). */

/** Resolves when `work` settles or `boundMs` passed, whichever comes first. */
export function withinBound(work: Promise<unknown>, boundMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, boundMs);
  });
  const settled = work.then(
    () => {},
    () => {},
  );
  return Promise.race([settled, bound]).finally(() => clearTimeout(timer));
}
