/**
 * Keeps the last lines a container printed, so a runner that dies at boot can be explained
 * ("exited with code 1: flame-runner: entry failed to load …") even after the daemon has
 * auto-removed the container and its logs with it. Attached before start, like `docker run`.
 */
import { Writable } from "node:stream";
import type Dockerode from "dockerode";

const MAX_LINES = 20;
const MAX_LINE_CHARS = 500;

export class LogTail {
  readonly #lines: string[] = [];
  #partial = "";
  #stream: NodeJS.ReadableStream | null = null;

  static async attach(
    docker: Dockerode,
    container: Dockerode.Container,
    signal: AbortSignal,
  ): Promise<LogTail> {
    const tail = new LogTail();
    // The boot signal may only abort the attach request itself: once attached, the stream must
    // outlive the boot deadline (an abort later would cut it and lose the exit's last lines).
    const attachAbort = new AbortController();
    const onAbort = () => attachAbort.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await container.attach({
        stream: true,
        stdout: true,
        stderr: true,
        logs: true,
        abortSignal: attachAbort.signal,
      })) as NodeJS.ReadableStream;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    tail.#stream = stream;
    const sink = () =>
      new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          tail.#push(chunk.toString("utf8"));
          done();
        },
      });
    docker.modem.demuxStream(stream, sink(), sink());
    // The stream ends with the container; an error here only means fewer log lines.
    stream.on("error", () => {});
    return tail;
  }

  /** The last lines, oldest first (a trailing partial line included). */
  lines(): string[] {
    const partial = this.#partial.trim();
    return partial === "" ? [...this.#lines] : [...this.#lines, partial].slice(-MAX_LINES);
  }

  close(): void {
    const stream = this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    stream?.destroy?.();
    this.#stream = null;
  }

  #push(text: string): void {
    const parts = (this.#partial + text).split("\n");
    this.#partial = (parts.pop() ?? "").slice(-MAX_LINE_CHARS);
    for (const part of parts) {
      const line = part.trimEnd();
      if (line === "") continue;
      this.#lines.push(line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line);
      if (this.#lines.length > MAX_LINES) this.#lines.shift();
    }
  }
}
