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
 *
 * The large answer is sent in several ways in the same run (each in a fresh parent process),
 * so each change's share shows against the way it was sent before (issue 22, row 2):
 * `whole, masked` is how runners sent it before (one ws message, a random masking key, which
 * the parent's ws unmasks); `mask 0` is the runner's zero key (runner-agent dial.ts); `parts N`
 * splits it into `answer.part` frames of N bytes (SendBatcher, as the agent's session sends).
 * Each line also gives the parent's garbage collections during the scenario (count, worst
 * and total pause, from PerformanceObserver "gc" entries) and the load average at its start.
 */
import { fork } from "node:child_process";
import { loadavg } from "node:os";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";

type Scenario = "large" | "flood";

/** How the runner sends the large answer: masked or with a zero key, whole or in parts of `partBytes`. */
interface Sending {
  readonly masked: boolean;
  /** 0: one ws message (ws.send of the whole frame). */
  readonly partBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** The ways the large answer is sent, in this order; the first is how runners sent it before. */
const LARGE_SENDINGS: readonly Sending[] = [
  { masked: true, partBytes: 0 },
  { masked: false, partBytes: 0 },
  { masked: true, partBytes: MiB },
  { masked: false, partBytes: 256 * KiB },
  { masked: false, partBytes: MiB },
  { masked: false, partBytes: 4 * MiB },
];

function describeSending(s: Sending): string {
  const parts = s.partBytes === 0 ? "whole" : `parts ${s.partBytes / KiB} KiB`;
  return `${parts}, ${s.masked ? "masked" : "mask 0"}`;
}

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

/**
 * The fake runner: dials as the agent does (challenge, then the upgrade on the same socket),
 * with a random masking key or a zero one; answers as `scenario` says.
 */
async function runnerMain(
  tree: string,
  url: string,
  token: string,
  sending: Sending,
): Promise<void> {
  const pc = `${tree}/packages/pool-core`;
  const protocol = await import(pathToFileURL(`${pc}/src/protocol.ts`).href);
  const { PROTOCOL_VERSION } = await import(pathToFileURL(`${pc}/src/wire/index.ts`).href);
  const { WebSocket } = await import("ws");
  const { challengeParent, decodeFrame, encodeFrame, v8Codec, SendBatcher } = protocol;
  const proved = await challengeParent({
    url,
    runnerId: "r1",
    token,
    signal: AbortSignal.timeout(10_000),
  });
  if (proved.kind !== "proved") throw new Error(`runner: ${proved.reason}`);
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    headers: { ...proved.headers },
    createConnection: () => proved.socket,
    ...(sending.masked ? {} : { generateMask: (mask: Buffer) => mask.fill(0) }),
  });
  await new Promise((resolve) => ws.once("open", resolve));
  const frame = (msg: object): Buffer => encodeFrame(msg, v8Codec, 64 * 1024 * 1024);
  const calls: number[] = [];
  let onCall: (() => void) | null = null;
  ws.on("message", (data: Buffer) => {
    const decoded = decodeFrame(data, v8Codec);
    if (decoded.ok && decoded.msg.t === "call") {
      calls.push(decoded.msg.id);
      onCall?.();
    }
  });
  ws.send(
    frame({
      t: "hello",
      runnerId: "r1",
      protocol: PROTOCOL_VERSION,
      functions: ["echo"],
      agentVersion: "bench",
      pid: process.pid,
      host: "bench",
    }),
  );
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
    const id =
      calls.shift() ??
      (await new Promise<number>((resolve) => {
        onCall = () => resolve(calls.shift() ?? 0);
      }));
    if (m.scenario === "large") {
      const answer = withId(large, id);
      if (sending.partBytes === 0) ws.send(answer);
      else new SendBatcher(ws, { answerPartBytes: sending.partBytes }).send(answer);
    } else {
      for (const unsolicited of [90_001, 90_002, 90_003]) ws.send(withId(empty, unsolicited));
      ws.send(frame({ t: "result", id, ok: true, value: "after the flood" }));
    }
  });
}

async function measure(tree: string, scenario: Scenario, sending: Sending): Promise<void> {
  const load = loadavg()[0] ?? 0;
  const mod = (await import(
    pathToFileURL(`${tree}/packages/pool-core/src/link/index.ts`).href
  )) as LinkModule;
  // Each decode slice timed: what of the worst gap is a slice, and what is the rest.
  const { SliceQueue } = await import(
    pathToFileURL(`${tree}/packages/pool-core/src/link/decode-slices.ts`).href
  );
  const sliceMs: number[] = [];
  let worstSlice = 0;
  const slices = new SliceQueue((fn: () => void) =>
    setImmediate(() => {
      const t0 = performance.now();
      fn();
      const ms = performance.now() - t0;
      sliceMs.push(ms);
      worstSlice = Math.max(worstSlice, ms);
    }),
  );
  const server = await mod.RunnerServer.listen({ maxFrameBytes: 32 * 1024 * 1024, slices });
  const { generateToken } = await import(
    pathToFileURL(`${tree}/packages/pool-core/src/protocol.ts`).href
  );
  const token: string = generateToken();
  const expecting = server.expect("r1", token, AbortSignal.timeout(60_000));
  const child = fork(
    fileURLToPath(import.meta.url),
    ["--runner", tree, server.url, token, JSON.stringify(sending)],
    { execArgv: ["--import", "tsx"] },
  );
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
  // And the CPU this process used in each gap (all its threads, GC helpers included): on a
  // loaded machine a gap is mostly waiting for a core; its CPU is what the parent itself spent.
  let lastTickMs = performance.now();
  let lastCpu = process.cpuUsage();
  let worstGapMs = 0;
  let worstGapCpuMs = 0;
  let mostCpuInAGapMs = 0;
  const tick = (): void => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    if (now - lastTickMs > worstGapMs) {
      worstGapMs = now - lastTickMs;
      worstGapCpuMs = cpuMs;
    }
    mostCpuInAGapMs = Math.max(mostCpuInAGapMs, cpuMs);
    lastTickMs = now;
    lastCpu = process.cpuUsage();
  };
  const ticker = setInterval(tick, 5);
  const gcs: Array<{ kind: number; ms: number }> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e.detail as { kind?: number } | null)?.kind ?? 0;
      gcs.push({ kind, ms: e.duration });
    }
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  const started = performance.now();
  child.send({ scenario });
  const outcome = await Promise.race([answered, closed]);
  const tookMs = performance.now() - started;
  clearInterval(ticker);
  tick();
  delay.disable();
  // Entries are delivered asynchronously: one more turn to collect the last ones.
  await new Promise((resolve) => setImmediate(resolve));
  gcObserver.disconnect();
  const mb = ((scenario === "large" ? sizes.largeBytes : 3 * sizes.floodBytes) / 1e6).toFixed(1);
  const how = scenario === "large" ? `, ${describeSending(sending)}` : "";
  const parentFlags = process.env.ANSWERS_PARENT_FLAGS;
  const flags = parentFlags === undefined ? "" : `, parent ${parentFlags}`;
  console.log(
    `[measure] answers ${label(tree)} ${scenario} (${mb} MB${how}${flags}; load ${load.toFixed(1)}): worst 5 ms-ticker gap ${worstGapMs.toFixed(0)} ms (CPU in it ${worstGapCpuMs.toFixed(0)} ms; most CPU in a gap ${mostCpuInAGapMs.toFixed(0)} ms); event-loop delay max ${(delay.max / 1e6).toFixed(0)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms; decode slices ${sliceMs.length} (worst ${worstSlice.toFixed(0)} ms, total ${sliceMs.reduce((t, v) => t + v, 0).toFixed(0)} ms); ${describeGcs(gcs)}; over in ${tookMs.toFixed(0)} ms (${outcome})`,
  );
  child.kill();
  await server.close();
}

/** Count, worst and total pause of the scavenges (minor) and the other collections. */
function describeGcs(gcs: ReadonlyArray<{ kind: number; ms: number }>): string {
  // perf_hooks.constants.NODE_PERFORMANCE_GC_MINOR = 1 (a young-generation scavenge).
  const sum = (list: ReadonlyArray<{ ms: number }>): string =>
    `${list.length} (worst ${Math.max(0, ...list.map((g) => g.ms)).toFixed(0)} ms, total ${list.reduce((t, g) => t + g.ms, 0).toFixed(0)} ms)`;
  return `GC scavenges ${sum(gcs.filter((g) => g.kind === 1))}, other ${sum(gcs.filter((g) => g.kind !== 1))}`;
}

/** The same measurement over an idle second: what the machine's load alone costs. */
async function idle(): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  delay.disable();
  console.log(
    `[measure] answers baseline idle 1 s (load ${(loadavg()[0] ?? 0).toFixed(1)}): event-loop delay max ${(delay.max / 1e6).toFixed(0)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms`,
  );
}

function label(tree: string): string {
  return tree === THIS_TREE ? "this tree" : tree;
}

/** Each measurement in a fresh process, so one's garbage does not land in another's figure. */
function inChild(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // ANSWERS_CPU_PROF=<dir>: a CPU profile of each measuring parent, for what its stalls are made of.
    const profile = process.env.ANSWERS_CPU_PROF;
    const prof = profile === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", profile];
    // ANSWERS_PARENT_FLAGS="--max-semi-space-size=1": V8 flags of each measuring parent.
    prof.push(...(process.env.ANSWERS_PARENT_FLAGS?.split(" ").filter((f) => f !== "") ?? []));
    const child = fork(fileURLToPath(import.meta.url), args, {
      execArgv: ["--expose-gc", ...prof, "--import", "tsx"],
    });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });
}

if (process.argv[2] === "--runner") {
  const [tree, url, token, sending] = process.argv.slice(3);
  await runnerMain(tree ?? "", url ?? "", token ?? "", JSON.parse(sending ?? "{}") as Sending);
} else if (process.argv[2] === "--measure") {
  const sending = JSON.parse(process.argv[5] ?? "{}") as Sending;
  await measure(process.argv[3] ?? "", process.argv[4] as Scenario, sending);
} else {
  const trees = [arg("--tree"), THIS_TREE].filter((t): t is string => t !== undefined);
  // --only large|flood: one scenario.
  const only = arg("--only");
  // The agent's way: a zero key and 1 MiB parts (a tree older than answer.part sends whole).
  const agents: Sending = { masked: false, partBytes: MiB };
  await idle();
  if (only !== "flood") {
    for (const tree of trees) {
      const sendings = tree === THIS_TREE ? LARGE_SENDINGS : [LARGE_SENDINGS[0] as Sending];
      for (const sending of sendings) {
        await inChild(["--measure", tree, "large", JSON.stringify(sending)]);
      }
    }
  }
  if (only !== "large") {
    for (const tree of trees) await inChild(["--measure", tree, "flood", JSON.stringify(agents)]);
  }
  await idle();
}
