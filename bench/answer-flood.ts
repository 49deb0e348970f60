/**
 * What a runner's answers cost the parent's event loop (issue 22, rows 1 and 2). An
 * authenticated fake runner (a child process: its encoding work is not the parent's) is
 * expected by a RunnerServer and answers in one of two ways:
 *
 * - `large`: one legitimate answer of ~15 MB (500,000 small objects) to a call the parent made;
 * - `flood`: three answers of ~6 MB (2 million empty objects each) for call ids the parent
 *   never used, then, if its link is still up, the answer to the parent's pending call.
 *
 * Measured in the parent with `perf_hooks.monitorEventLoopDelay` (resolution 1 ms): the worst
 * delay from the moment the runner is told to send until the scenario is over (the answer
 * delivered; the flood decoded or the link ended). The baseline in the same run is the same
 * measurement over an idle second, and `--tree` runs another checkout's link in the same run:
 *
 *   npm run bench:answers -w @flame-ts/bench                       # this tree
 *   npm run bench:answers -w @flame-ts/bench -- --tree /tmp/old     # and a baseline checkout
 *
 * (`git worktree add /tmp/old <commit>` and link node_modules in it.) Prints `[measure]` lines;
 * asserts nothing.
 */
import { fork } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";

type Scenario = "large" | "flood";

interface Conn {
  request(
    kind: "call",
    fn: string,
    args: unknown,
    opts: { timeoutMs: number | null; traceparent: undefined },
    reply: { resolve(v: unknown): void; reject(e: unknown): void; ended(): void },
  ): number | null;
  attach(events: { closed(reason: string): void; leaving(reason: string): void }): void;
}

interface LinkModule {
  RunnerServer: {
    listen(o: object): Promise<{
      url: string;
      expect(id: string, token: string, signal: AbortSignal): Promise<Conn>;
      close(): Promise<void>;
    }>;
  };
}

const THIS_TREE = fileURLToPath(new URL("..", import.meta.url));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

/** The fake runner: connects with that tree's FakeRunner, answers as `scenario` says. */
async function runnerMain(tree: string, url: string, token: string): Promise<void> {
  const pc = `${tree}/packages/pool-core`;
  const { FakeRunner, isT } = await import(pathToFileURL(`${pc}/test/link/fake-runner.ts`).href);
  const { encodeFrame, v8Codec } = await import(pathToFileURL(`${pc}/src/protocol.ts`).href);
  const runner = await FakeRunner.connect(url, { runnerId: "r1", token });
  runner.hello("r1", ["echo"]);
  const frame = (msg: object): Buffer => encodeFrame(msg, v8Codec, 64 * 1024 * 1024);
  // Encoded before the parent is told to start measuring.
  const large = frame({
    t: "result",
    id: 0,
    ok: true,
    value: Array.from({ length: 500_000 }, (_, i) => ({ i, name: `row-${i}` })),
  });
  const empty = frame({
    t: "result",
    id: 0,
    ok: true,
    value: Array.from({ length: 2_000_000 }, () => ({})),
  });
  const withId = (bytes: Buffer, id: number): Buffer => {
    const copy = Buffer.from(bytes);
    copy.writeUInt32BE(id, 4);
    return copy;
  };
  process.send?.({ ready: true, largeBytes: large.byteLength, floodBytes: empty.byteLength });
  process.on("message", async (m: { scenario: Scenario }) => {
    const call = await runner.next(isT("call"));
    if (m.scenario === "large") runner.ws.send(withId(large, call.id));
    else {
      for (const id of [90_001, 90_002, 90_003]) runner.ws.send(withId(empty, id));
      runner.send({ t: "result", id: call.id, ok: true, value: "after the flood" });
    }
  });
}

async function measure(tree: string, scenario: Scenario): Promise<void> {
  const mod = (await import(
    pathToFileURL(`${tree}/packages/pool-core/src/link/index.ts`).href
  )) as LinkModule;
  const server = await mod.RunnerServer.listen({ maxFrameBytes: 32 * 1024 * 1024 });
  const { generateToken } = await import(
    pathToFileURL(`${tree}/packages/pool-core/src/protocol.ts`).href
  );
  const token: string = generateToken();
  const expecting = server.expect("r1", token, AbortSignal.timeout(60_000));
  const child = fork(fileURLToPath(import.meta.url), ["--runner", tree, server.url, token], {
    execArgv: ["--import", "tsx"],
  });
  const conn = await expecting;
  const sizes = await new Promise<{ largeBytes: number; floodBytes: number }>((resolve) =>
    child.once("message", (m) => resolve(m as { largeBytes: number; floodBytes: number })),
  );
  const closed = new Promise<string>((resolve) =>
    conn.attach({
      closed: (reason) => resolve(`link ended: ${reason.slice(0, 60)}…`),
      leaving() {},
    }),
  );
  const answered = new Promise<string>((resolve) => {
    conn.request(
      "call",
      "echo",
      null,
      { timeoutMs: null, traceparent: undefined },
      {
        resolve: (v) => resolve(Array.isArray(v) ? `answer of ${v.length} items` : `answer ${v}`),
        reject: (e) => resolve(`failed: ${(e as Error).message.slice(0, 60)}`),
        ended() {},
      },
    );
  });
  globalThis.gc?.();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  // A 5 ms ticker stands in for other runners' frames and timers: its worst gap is theirs.
  let lastTickMs = performance.now();
  let worstGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worstGapMs = Math.max(worstGapMs, now - lastTickMs);
    lastTickMs = now;
  }, 5);
  const started = performance.now();
  child.send({ scenario });
  const outcome = await Promise.race([answered, closed]);
  const tookMs = performance.now() - started;
  clearInterval(ticker);
  worstGapMs = Math.max(worstGapMs, performance.now() - lastTickMs);
  delay.disable();
  const mb = ((scenario === "large" ? sizes.largeBytes : 3 * sizes.floodBytes) / 1e6).toFixed(1);
  console.log(
    `[measure] answers ${label(tree)} ${scenario} (${mb} MB): event-loop delay max ${(delay.max / 1e6).toFixed(0)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms; worst 5 ms-ticker gap ${worstGapMs.toFixed(0)} ms; over in ${tookMs.toFixed(0)} ms (${outcome})`,
  );
  child.kill();
  await server.close();
}

/** The same measurement over an idle second: what the machine's load alone costs. */
async function idle(): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  delay.disable();
  console.log(
    `[measure] answers baseline idle 1 s: event-loop delay max ${(delay.max / 1e6).toFixed(0)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms`,
  );
}

function label(tree: string): string {
  return tree === THIS_TREE ? "this tree" : tree;
}

/** Each measurement in a fresh process, so one's garbage does not land in another's figure. */
function inChild(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), args, {
      execArgv: ["--expose-gc", "--import", "tsx"],
    });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });
}

if (process.argv[2] === "--runner") {
  await runnerMain(process.argv[3] ?? "", process.argv[4] ?? "", process.argv[5] ?? "");
} else if (process.argv[2] === "--measure") {
  await measure(process.argv[3] ?? "", process.argv[4] as Scenario);
} else {
  const trees = [arg("--tree"), THIS_TREE].filter((t): t is string => t !== undefined);
  await idle();
  for (const scenario of ["large", "flood"] as const) {
    for (const tree of trees) await inChild(["--measure", tree, scenario]);
  }
  await idle();
}
