/**
 * Version skew at the handshake, with a real runner agent: a parent of another flame-ts
 * version answers its challenge with 426 and its own protocol number; the runner exits 4
 * naming both versions, and the pool fails the callers waiting on that boot at once with that
 * reason (BOOT_FAILED, permanent) instead of retrying a boot that cannot succeed.
 */
import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { isFlameError } from "../../src/index.js";
import { PROTOCOL_VERSION } from "../../src/wire/index.js";
import { localPool } from "../e2e/helpers.js";
import { echo } from "../fixtures/functions.mjs";
import { cleanups } from "./cleanups.js";

describe("protocol version skew at the handshake", () => {
  it("a runner refused for its protocol fails the waiting call at once, naming both versions", {
    timeout: 60_000,
  }, async () => {
    const other = PROTOCOL_VERSION + 1;
    // Where the pool tells its runners to dial: a parent of the next protocol version.
    const newer = createServer((_req, res) => {
      res.writeHead(426, { "x-flame-protocol": String(other), connection: "close" });
      res.end(`flame-ts runner port: protocol ${other} only\n`);
    });
    await new Promise<void>((resolve) => newer.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => newer.close(resolve)));
    const address = newer.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    const pool = localPool({
      max: 1,
      listen: { advertiseUrl: `ws://127.0.0.1:${port}` },
      // Far beyond the test's own bound: only a failure at once can settle the call in time.
      bootTimeout: 120_000,
      timeout: 120_000,
    });
    const error = await pool.call(echo, "never").catch((e: unknown) => e);
    expect(isFlameError(error) && error.code).toBe("BOOT_FAILED");
    expect((error as Error).message).toContain(
      `speaks flame-ts protocol ${other}, this runner ${PROTOCOL_VERSION}: run the same flame-ts version on both sides`,
    );
  });
});
