/**
 * Where a local runner's stdout and stderr go: line by line into a log function (the pool's
 * `log` by default), never straight onto the parent's own stderr. The agent's own lines are
 * `debug`: its final `flame-runner: <reason>` is what the pool reports anyway when a runner
 * goes down (at `info`), and every normal stop would otherwise print one.
 */
import type { Readable } from "node:stream";
import type { LogFn, LogLevel } from "../options/index.js";

export type RunnerStream = "stdout" | "stderr";

/** The level a runner's output line is logged at. */
export function levelOf(line: string): LogLevel {
  return line.startsWith("flame-runner:") || line.startsWith("flame-runner[debug]:")
    ? "debug"
    : "info";
}

/**
 * Splits `stream` into lines, logs each non-empty one with `{ runnerId, stream }`, and calls
 * `onLine` with it (the runner keeps the last stderr line to explain its exit). A partial last
 * line is flushed when the stream ends.
 */
export function pipeRunnerOutput(
  stream: Readable,
  name: RunnerStream,
  runnerId: string,
  log: LogFn,
  onLine: (line: string) => void = () => {},
): void {
  let partial = "";
  const emit = (raw: string) => {
    const line = raw.trimEnd();
    if (line.trim().length === 0) return;
    log(levelOf(line), line, { runnerId, stream: name });
    onLine(line);
  };
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) emit(line);
  });
  stream.once("end", () => {
    emit(partial);
    partial = "";
  });
}
