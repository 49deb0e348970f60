/** Sockets that are not our runners: refused, and the pool's own runners are not disturbed. */
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  type Backend,
  type BootedRunner,
  type BootRequest,
  LocalBackend,
} from "../../src/index.js";
import {
  CLOSE_PROTOCOL,
  CLOSE_UNAUTHORIZED,
  decodeParentDescriptor,
  encodeFrame,
  PROTOCOL_VERSION,
  v8Codec,
} from "../../src/protocol.js";
import { echo } from "../fixtures/functions.mjs";
import { fixtureEntry, localPool, waitFor } from "./helpers.js";

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

function closeCodeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once("close", (code) => resolve(code)));
}

describe("LocalBackend pool: intruders", () => {
  it("a wrong token and a garbage frame are refused; the real runner still boots and serves", async () => {
    const backend = new SpyBackend();
    const pool = localPool({ backend, bootTimeout: 20_000 });
    const call = pool.call(echo, "served");
    await waitFor(() => backend.requests.length === 1, 10_000, "the boot to start");
    const descriptor = decodeParentDescriptor(backend.requests[0]?.env.FLAME_PARENT ?? "");
    expect(new URL(descriptor.url).hostname).toBe("127.0.0.1");

    const impostor = new WebSocket(descriptor.url);
    const impostorClosed = closeCodeOf(impostor);
    await new Promise((resolve) => impostor.once("open", resolve));
    impostor.send(
      encodeFrame(
        {
          t: "hello",
          runnerId: descriptor.runnerId,
          token: `${descriptor.token.slice(0, -1)}x`,
          protocol: PROTOCOL_VERSION,
          functions: [echo.id],
          agentVersion: "0.0.0",
          pid: 1,
          host: "impostor",
        },
        v8Codec,
        1024 * 1024,
      ),
    );
    expect(await impostorClosed).toBe(CLOSE_UNAUTHORIZED);

    const garbage = new WebSocket(descriptor.url);
    const garbageClosed = closeCodeOf(garbage);
    await new Promise((resolve) => garbage.once("open", resolve));
    garbage.send(Buffer.from("definitely not a frame"));
    expect(await garbageClosed).toBe(CLOSE_PROTOCOL);

    expect(await call).toBe("served");
    expect(backend.requests).toHaveLength(1);
  });
});
