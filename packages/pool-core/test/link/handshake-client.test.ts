/**
 * The runner's half of the handshake (protocol/challenge-client.ts) against peers that are not
 * a flame-ts parent: whatever they answer, the runner reads a bounded amount, sends nothing
 * after its challenge, and reports a refusal (final) or an unreachable parent (worth a retry).
 */
import { createServer, type Server, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { type ChallengeOutcome, challengeParent, generateToken } from "../../src/protocol.js";
import { cleanups } from "./cleanups.js";

/** A TCP peer that answers the runner's first bytes with `answer(socket)`; records what it got. */
async function peer(answer: (socket: Socket) => void): Promise<{ url: string; got: string[] }> {
  const got: string[] = [];
  const server: Server = createServer((socket) => {
    socket.on("error", () => {});
    socket.setEncoding("latin1");
    let answered = false;
    socket.on("data", (chunk: string) => {
      got.push(chunk);
      if (!answered) {
        answered = true;
        answer(socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { url: `ws://127.0.0.1:${port}`, got };
}

function challenge(url: string, signal = AbortSignal.timeout(10_000)): Promise<ChallengeOutcome> {
  return challengeParent({ url, runnerId: "r1", token: generateToken(), signal });
}

describe("challengeParent against peers that are not a flame-ts parent", () => {
  it("refuses an answer that is not HTTP", async () => {
    const { url } = await peer((socket) => socket.write("SSH-2.0-OpenSSH_9.6\r\n\r\n"));
    const outcome = await challenge(url);
    expect(outcome).toMatchObject({ kind: "refused" });
    expect((outcome as { reason: string }).reason).toMatch(/not a flame-ts parent/);
  });

  it("stops reading an answer whose headers never end (8 KiB)", async () => {
    const { url } = await peer((socket) => {
      socket.write("HTTP/1.1 200 OK\r\n");
      const line = `x-pad: ${"a".repeat(1_000)}\r\n`;
      for (let i = 0; i < 64; i++) socket.write(line);
    });
    const outcome = await challenge(url);
    expect(outcome).toMatchObject({ kind: "refused" });
    expect((outcome as { reason: string }).reason).toMatch(/an oversized answer/);
  });

  it("refuses a 200 that carries a body, and one without a challenge", async () => {
    for (const answer of [
      "HTTP/1.1 200 OK\r\nx-flame-protocol: 5\r\nx-flame-challenge: abc\r\nx-flame-proof: x\r\nContent-Length: 2\r\n\r\nhi",
      "HTTP/1.1 200 OK\r\nx-flame-protocol: 5\r\nContent-Length: 0\r\n\r\n",
    ]) {
      const { url, got } = await peer((socket) => socket.write(answer));
      const outcome = await challenge(url);
      expect(outcome).toMatchObject({ kind: "refused" });
      expect((outcome as { reason: string }).reason).toMatch(/without a well-formed challenge/);
      // Only its challenge was sent: no upgrade, no proof of its own.
      expect(got.join("")).not.toMatch(/upgrade|x-flame-proof/i);
    }
  });

  it("reports a peer that closes without answering as unreachable (worth a retry)", async () => {
    const { url } = await peer((socket) => socket.destroy());
    expect(await challenge(url)).toMatchObject({ kind: "unreachable" });
  });

  it("gives up when its signal aborts, with the connection destroyed", async () => {
    let held: Socket | null = null;
    const { url } = await peer((socket) => {
      held = socket;
    });
    const abort = new AbortController();
    const outcome = challenge(url, abort.signal);
    await expect.poll(() => held !== null, { timeout: 10_000 }).toBe(true);
    const closed = new Promise<void>((resolve) => (held as Socket | null)?.once("close", resolve));
    abort.abort();
    expect(await outcome).toEqual({ kind: "unreachable", reason: "abandoned while dialing" });
    await closed;
  });
});
