/**
 * Fuzzing the runner port's door (issue 12): malformed and oversized upgrade requests and
 * hellos only ever get a clear refusal — never a crash, never a decode before authentication.
 */
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunnerServer } from "../../src/link/index.js";
import { answerChallenge, judgeUpgrade } from "../../src/link/upgrade-gate.js";
import {
  type ChallengeNonces,
  type Codec,
  generateToken,
  newNonce,
  parentProof,
  proofEquals,
  runnerProof,
  v8Codec,
} from "../../src/protocol.js";
import { FakeRunner } from "./fake-runner.js";

const TOKEN = generateToken();
const tokenFor = (id: string) => (id === "r1" ? TOKEN : undefined);
const DECOY = randomBytes(32);
const CHALLENGE: ChallengeNonces = {
  runnerId: "r1",
  runnerNonce: newNonce(),
  parentNonce: newNonce(),
};
const RIGHT_PROOF = runnerProof(TOKEN, CHALLENGE);

const headerValue = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.constant(`Bearer ${TOKEN}`),
  fc.constant("r1"),
  fc.constant("5"),
  fc.constant(RIGHT_PROOF),
  fc.constant(runnerProof(generateToken(), CHALLENGE)),
  fc.constant(parentProof(TOKEN, CHALLENGE)),
  fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
  fc.constant(undefined),
);
const headers = fc.record(
  {
    origin: headerValue,
    authorization: headerValue,
    "x-flame-runner": headerValue,
    "x-flame-nonce": headerValue,
    "x-flame-proof": headerValue,
    "x-flame-protocol": headerValue,
  },
  { requiredKeys: [] },
);
const method = fc.constantFrom("GET", "POST", "OPTIONS");

describe("the gate's verdicts (property)", () => {
  it("judgeUpgrade never throws, and admits only the runner's proof for its own connection's challenge", () => {
    fc.assert(
      fc.property(headers, method, fc.boolean(), (h, m, challenged) => {
        const verdict = judgeUpgrade(
          { method: m, headers: h as Record<string, string | string[] | undefined> },
          challenged ? CHALLENGE : undefined,
          tokenFor,
          DECOY,
        );
        if (verdict.ok) {
          expect(challenged).toBe(true);
          expect(h.origin).toBeUndefined();
          expect(h["x-flame-proof"]).toBe(RIGHT_PROOF);
          expect(h["x-flame-protocol"]).toBe("5");
          expect(verdict.runnerId).toBe("r1");
          expect(m).toBe("GET");
        } else {
          // One answer for strangers; 426 (naming only the parent's version) for another one.
          expect([401, 426]).toContain(verdict.status);
          expect(verdict.why.length).toBeGreaterThan(0);
          if (h.origin !== undefined) expect(verdict.status).toBe(401);
        }
      }),
      { numRuns: 4_000 },
    );
  });

  it("answerChallenge never throws; its proof is the token's only for an expected runner id", () => {
    fc.assert(
      fc.property(headers, method, (h, m) => {
        const verdict = answerChallenge(
          { method: m, headers: h as Record<string, string | string[] | undefined> },
          tokenFor,
          DECOY,
        );
        if (!verdict.ok) {
          expect([401, 426]).toContain(verdict.status);
          return;
        }
        expect(h.origin).toBeUndefined();
        expect(m).toBe("GET");
        const holdsToken = proofEquals(
          parentProof(TOKEN, verdict.nonces),
          verdict.headers["x-flame-proof"],
        );
        expect(holdsToken).toBe(verdict.nonces.runnerId === "r1");
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("runner port under fuzzed input", () => {
  let server: RunnerServer;
  const codec: Codec & { decodes: number } = {
    ...v8Codec,
    decodes: 0,
    decode(bytes: Uint8Array) {
      codec.decodes += 1;
      return v8Codec.decode(bytes);
    },
  };
  beforeAll(async () => {
    server = await RunnerServer.listen({ codec, helloTimeoutMs: 2_000 });
  });
  afterAll(() => server.close());

  function rawExchange(bytes: Buffer): Promise<string> {
    const { hostname, port } = new URL(server.url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), hostname);
      let answer = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        answer += chunk;
      });
      socket.on("error", () => {});
      socket.on("close", () => resolve(answer));
      socket.end(bytes);
      socket.setTimeout(5_000, () => socket.destroy());
    });
  }

  const requestLine = fc.oneof(
    fc.constant("GET / HTTP/1.1"),
    fc.constant("POST / HTTP/1.1"),
    fc.string({ maxLength: 80 }),
  );
  const headerLine = fc.oneof(
    fc.constant("Upgrade: websocket"),
    fc.constant("Connection: Upgrade"),
    fc.constant("Sec-WebSocket-Version: 13"),
    fc.constant(`Sec-WebSocket-Key: ${Buffer.from("0123456789abcdef").toString("base64")}`),
    fc.constant("x-flame-runner: r1"),
    fc.constant(`x-flame-proof: ${RIGHT_PROOF}`),
    fc.constant("x-flame-protocol: 5"),
    fc.constant("origin: https://evil.example"),
    fc.string({ maxLength: 200 }),
    fc.nat({ max: 20_000 }).map((n) => `x-pad: ${"a".repeat(n)}`),
  );
  const request = fc
    .tuple(requestLine, fc.array(headerLine, { maxLength: 8 }), fc.uint8Array({ maxLength: 4096 }))
    .map(([line, lines, tail]) =>
      Buffer.concat([
        Buffer.from(`${line}\r\nHost: x\r\n${lines.join("\r\n")}\r\n\r\n`, "latin1"),
        Buffer.from(tail),
      ]),
    );

  it("malformed, oversized and unauthenticated requests get an HTTP refusal or a closed socket; nothing is decoded", async () => {
    await fc.assert(
      fc.asyncProperty(request, async (bytes) => {
        const answer = await rawExchange(bytes);
        // Either Node's parser refused it (400/431) or the gate did; never a 101.
        if (answer.length > 0) expect(answer).toMatch(/^HTTP\/1\.1 (400|401|403|426|431) /);
      }),
      { numRuns: 150 },
    );
    expect(codec.decodes).toBe(0);
  });

  it("after all that, a real runner still authenticates; garbage hellos from it are refused cleanly", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 2048 }), async (garbage) => {
        const token = generateToken();
        const expecting = server.expect("r-fuzz", token, AbortSignal.timeout(10_000));
        expecting.catch(() => {});
        const { ws } = await FakeRunner.connect(server.url, { runnerId: "r-fuzz", token });
        const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
        ws.send(Buffer.from(garbage));
        const code = await closed;
        expect([4002, 1006]).toContain(code);
        // The expectation still waits for the real runner.
        const runner = await FakeRunner.connect(server.url, { runnerId: "r-fuzz", token });
        runner.hello("r-fuzz");
        const conn = await expecting;
        conn.terminate("done");
        runner.close();
      }),
      { numRuns: 40 },
    );
  });
});
