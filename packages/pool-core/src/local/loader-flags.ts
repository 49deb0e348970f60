/**
 * Which of the parent's `node` flags a LocalBackend runner inherits: the module loaders only.
 *
 * A parent started as `tsx app.ts` or `node --import tsx app.ts` imports `./functions.ts`;
 * its runners must load the same entry the same way, so they get the same `--import`,
 * `--require`, `--loader` and type-stripping flags. Everything else stays with the parent:
 * `--inspect` would fight over the debugger port, heap limits and `--conditions` are the
 * parent's business (a test runner's `--conditions source` would send a plain-`node` runner
 * to TypeScript sources it cannot load).
 */

/** Flags that take a value (`--import tsx` or `--import=tsx`). */
const WITH_VALUE = new Set(["--import", "--require", "-r", "--loader", "--experimental-loader"]);
/** Flags on their own. */
const ALONE = new Set([
  "--experimental-strip-types",
  "--no-experimental-strip-types",
  "--experimental-transform-types",
]);

/** The loader flags of `execArgv`, in order, each with its value (`process.execArgv` form). */
export function loaderFlags(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (ALONE.has(arg)) {
      kept.push(arg);
    } else if (WITH_VALUE.has(name)) {
      if (eq > 0) {
        kept.push(arg);
      } else if (i + 1 < execArgv.length) {
        kept.push(arg, execArgv[i + 1] as string);
        i++;
      }
    }
    // Anything else, and the value of a flag we do not keep (`--conditions source`), stays.
  }
  return kept;
}
