/**
 * On Linux a runner's worker threads run nicer than its main thread (executor/thread-priority.ts),
 * as `ps -L -o tid,ni` or `top -H` show an operator.
 */
import { readdirSync, readFileSync } from "node:fs";
import { getPriority } from "node:os";
import { DEFAULT_EXECUTION } from "@flame-ts/pool-core/protocol";
import { afterEach, expect, it, vi } from "vitest";
import { WORKER_NICE_OFFSET } from "../src/executor/thread-priority.js";
import { AgentProcess, descriptor, killAllAgents } from "./agent-process.js";
import { FakeParent, frame, input, isT } from "./fake-parent.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killAllAgents();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Each thread's nice value, by thread id (field 19 of /proc/<pid>/task/<tid>/stat). */
function threadNices(pid: number): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    // The fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    nices.set(Number(tid), Number(fields[16]));
  }
  return nices;
}

/** The runner inherits this process's nice value; near the bottom the offset would not show. */
const inherited = getPriority();
const lowered = inherited + WORKER_NICE_OFFSET;

it.skipIf(process.platform !== "linux" || lowered > 19)(
  "on Linux, a runner's worker threads run 5 nicer than its main thread, which keeps its own",
  async () => {
    const parent = await FakeParent.listen();
    cleanups.push(() => parent.close());
    const agent = AgentProcess.start(
      descriptor(parent, { maxConcurrency: 2, execution: { ...DEFAULT_EXECUTION, threads: 2 } }),
    );
    const ws = await parent.connected;
    ws.send(frame({ t: "call", id: 1, fn: "add", args: input({ a: 1, b: 2 }), timeoutMs: null }));
    expect(await parent.next(isT("result"))).toMatchObject({ id: 1, ok: true, value: 3 });
    const pid = agent.child.pid as number;
    // The second thread starts once the first answer has left.
    await vi.waitFor(
      () => {
        const nices = threadNices(pid);
        expect(nices.get(pid)).toBe(inherited);
        expect([...nices.values()].filter((nice) => nice === lowered)).toHaveLength(2);
      },
      { timeout: 10_000, interval: 50 },
    );
  },
);
