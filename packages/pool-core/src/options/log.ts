/** Where the pool's log lines go: the `log` option. */
import { invalidOption } from "../errors.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFn = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

export interface LogOptions {
  /**
   * The pool's log. Default `false` (silent). A level (`"debug"`, `"info"`, `"warn"`,
   * `"error"`) writes lines at that level and above to stderr; a function
   * `(level, message, fields?) => void` receives every line. LocalBackend sends runners'
   * output here too unless it has its own `log`.
   */
  readonly log?: false | LogLevel | LogFn;
}

export interface ResolvedLog {
  readonly log: LogFn;
}

/** `pool` prefixes each stderr line, so two pools' lines can be told apart. */
export function resolveLog(o: LogOptions, pool: string): ResolvedLog {
  return { log: logFn(o.log ?? false, pool) };
}

function logFn(log: unknown, pool: string): LogFn {
  if (log === false) return () => {};
  if (typeof log === "function") return log as LogFn;
  if (typeof log === "string" && (LOG_LEVELS as readonly string[]).includes(log)) {
    const least = LOG_LEVELS.indexOf(log as LogLevel);
    return (level, message, fields) => {
      if (LOG_LEVELS.indexOf(level) < least) return;
      const extra = fields === undefined ? "" : ` ${JSON.stringify(fields)}`;
      console.error(`[flame-ts ${pool}] ${level}: ${message}${extra}`);
    };
  }
  throw invalidOption("log", 'false, "debug" | "info" | "warn" | "error", or a function', log);
}
