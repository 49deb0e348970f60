/** Sockets that are not our runners: refused, and the pool's own runners are not disturbed. */
import { describe, expect, it } from "vitest";
import {
  type Backend,
  type BootedRunner,
  type BootRequest,
  LocalBackend,
} from "../../src/index.js";
import { decodeParentDescriptor } from "../../src/protocol.js";
import { echo } from "../fixtures/functions.mjs";
import { handshake, RawConnection, upgradeRequest } from "../link/fake-runner.js";
import { fixtureEntry, localPool } from "./helpers.js";

/** Runners start ≥ 1 s late, so the test can knock on the parent's door first. */
const slowStart = "data:text/javascript,await new Promise((r) => setTimeout(r, 1000));";

class SpyBackend implements Backend {
  readonly name = "spy";
  readonly requests: BootRequest[] = [];
  readonly #inner = new LocalBackend({ entry: fixtureEntry, execArgv: ["--import", slowStart] });
  boot(req: BootRequest): Promise<BootedRunner> {
    this.requests.push(req);
    return this.#inner.boot(req);
  }
}

describe("LocalBackend pool: intruders", () => {
  it("a wrong token, no token and a browser origin are refused at the upgrade; the real runner still boots and serves", async () => {
    const backend = new SpyBackend();
    const pool = localPool({ backend, bootTimeout: 20_000 });
    const call = pool.call(echo, "served");
    await expect
      .poll(() => backend.requests.length === 1, { timeout: 10_000, message: "the boot to start" })
      .toBe(true);
    const descriptor = decodeParentDescriptor(backend.requests[0]?.env.FLAME_PARENT ?? "");
    expect(new URL(descriptor.url).hostname).toBe("127.0.0.1");

    // A wrong token, no credentials at all, and a browser (even with the right token) are
    // refused at the upgrade, all with the same answer: no frame of theirs is ever read.
    const wrong = `${descriptor.token.slice(0, -1)}${descriptor.token.endsWith("x") ? "y" : "x"}`;
    const { runnerId } = descriptor;
    expect((await handshake(descriptor.url, { runnerId, token: wrong })).status).toBe(401);
    const bare = await RawConnection.open(descriptor.url);
    expect((await bare.exchange(upgradeRequest({}))).status).toBe(401);
    bare.close();
    const browser = await handshake(
      descriptor.url,
      { runnerId, token: descriptor.token },
      { headers: { origin: "https://evil.example" } },
    );
    expect(browser.status).toBe(401);

    expect(await call).toBe("served");
    expect(backend.requests).toHaveLength(1);
  });
});
