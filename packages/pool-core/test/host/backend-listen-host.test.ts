/**
 * `Backend.listenHost`: a backend whose runners cannot reach the host's loopback (DockerBackend
 * on its own bridge) tells the pool where to bind the runner port, unless `listen.host` was
 * given. Real runner port, a backend that records the URL each runner would dial.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Backend, BootedRunner, BootRequest } from "../../src/backend.js";
import { FlameError } from "../../src/errors.js";
import { defineFunction } from "../../src/functions.js";
import { Pool } from "../../src/host/pool.js";

const noop = defineFunction("listen-host-test.noop", () => null);

/** Records the URL in each boot's FLAME_PARENT, then fails the boot for good. */
class ProbeBackend implements Backend {
  readonly name = "probe";
  readonly urls: string[] = [];
  asked = 0;
  readonly #answers: Array<() => Promise<string | null>>;

  constructor(...answers: Array<() => Promise<string | null>>) {
    this.#answers = answers;
  }

  listenHost(): Promise<string | null> {
    const answer = this.#answers[Math.min(this.asked, this.#answers.length - 1)];
    this.asked += 1;
    return answer === undefined ? Promise.resolve(null) : answer();
  }

  async boot(req: BootRequest): Promise<BootedRunner> {
    const descriptor = JSON.parse(
      Buffer.from(req.env.FLAME_PARENT ?? "", "base64url").toString("utf8"),
    ) as { url: string };
    this.urls.push(descriptor.url);
    throw new FlameError("BOOT_FAILED", "probe: no runner", { permanent: true });
  }
}

const pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.stop()));
});

function pool(backend: Backend, listen?: { host: string }): Pool {
  const p = new Pool({ name: "lh", max: 1, backend, ...(listen === undefined ? {} : { listen }) });
  pools.push(p);
  return p;
}

async function failedCallMessage(p: Pool): Promise<string> {
  const error = await p.call(noop, null, { timeout: 10_000 }).then(
    () => "resolved",
    (e: unknown) => String(e),
  );
  return error;
}

describe("Backend.listenHost", () => {
  it("binds the runner port where the backend says when listen.host is not given", async () => {
    const backend = new ProbeBackend(async () => "127.0.0.2");
    await failedCallMessage(pool(backend));
    expect(backend.urls).toHaveLength(1);
    expect(backend.urls[0]).toMatch(/^ws:\/\/127\.0\.0\.2:\d+$/);
    expect(backend.asked).toBe(1);
  });

  it("keeps 127.0.0.1 when the backend answers null", async () => {
    const backend = new ProbeBackend(async () => null);
    await failedCallMessage(pool(backend));
    expect(backend.urls[0]).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
  });

  it("never asks the backend when listen.host is given", async () => {
    const backend = new ProbeBackend(async () => "127.0.0.2");
    await failedCallMessage(pool(backend, { host: "127.0.0.3" }));
    expect(backend.asked).toBe(0);
    expect(backend.urls[0]).toMatch(/^ws:\/\/127\.0\.0\.3:\d+$/);
  });

  it("fails the boot with the backend's reason when it cannot say, and asks again at the next boot", async () => {
    const backend = new ProbeBackend(
      async () => {
        throw new FlameError("BOOT_FAILED", "probe: network refused", { permanent: true });
      },
      async () => "127.0.0.2",
    );
    const p = pool(backend);
    expect(await failedCallMessage(p)).toContain("probe: network refused");
    expect(backend.urls).toEqual([]);
    expect(await failedCallMessage(p)).toContain("probe: no runner");
    expect(backend.asked).toBe(2);
    expect(backend.urls[0]).toMatch(/^ws:\/\/127\.0\.0\.2:\d+$/);
  });
});
