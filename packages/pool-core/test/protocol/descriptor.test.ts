import { describe, expect, it } from "vitest";
import { FlameError } from "../../src/errors.js";
import { decodeParentDescriptor, encodeParentDescriptor } from "../../src/protocol/descriptor.js";
import { generateToken, tokensEqual } from "../../src/protocol/token.js";
import type { ParentDescriptor } from "../../src/wire/index.js";

const valid: ParentDescriptor = {
  url: "ws://127.0.0.1:4000",
  token: generateToken(),
  runnerId: "thumbs-ab12",
  pool: "thumbs",
  protocol: 1,
  idleShutdownAfterMs: null,
  singleUse: false,
  failsafeTimeoutMs: 20_000,
  shutdownTimeoutMs: 30_000,
  maxFrameBytes: 64 * 1024 * 1024,
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 10_000,
  maxConcurrency: 8,
  execution: { mode: "threads", threads: null, terminateGraceMs: 1_000, threadMemoryMb: null },
};

function encodeRaw(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FlameError);
    expect((err as FlameError).code).toBe("INVALID_OPTIONS");
    return (err as FlameError).field;
  }
  throw new Error("expected a throw");
}

describe("parent descriptor", () => {
  it("round-trips through an env-safe string", () => {
    const encoded = encodeParentDescriptor(valid);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeParentDescriptor(encoded)).toEqual(valid);
    expect(
      decodeParentDescriptor(encodeParentDescriptor({ ...valid, idleShutdownAfterMs: 5 }))
        .idleShutdownAfterMs,
    ).toBe(5);
  });

  it.each([
    ["url", "http://127.0.0.1:1"],
    ["url", 7],
    ["token", ""],
    ["runnerId", null],
    ["pool", 1],
    ["protocol", 0],
    ["idleShutdownAfterMs", -1],
    ["singleUse", "yes"],
    ["failsafeTimeoutMs", 0],
    ["shutdownTimeoutMs", Number.NaN],
    ["maxFrameBytes", 10],
  ])("names the bad field %s", (field, bad) => {
    expect(fieldOf(() => decodeParentDescriptor(encodeRaw({ ...valid, [field]: bad })))).toBe(
      `FLAME_PARENT.${field}`,
    );
  });

  it("names a missing field and refuses non-JSON", () => {
    const { token: _, ...withoutToken } = valid;
    expect(fieldOf(() => decodeParentDescriptor(encodeRaw(withoutToken)))).toBe(
      "FLAME_PARENT.token",
    );
    expect(fieldOf(() => decodeParentDescriptor("%%%not base64"))).toBe("FLAME_PARENT");
    expect(fieldOf(() => decodeParentDescriptor(encodeRaw([1])))).toBe("FLAME_PARENT");
    expect(fieldOf(() => decodeParentDescriptor(""))).toBe("FLAME_PARENT");
  });

  it("is validated on encode too, so a backend fails before starting a doomed runner", () => {
    expect(fieldOf(() => encodeParentDescriptor({ ...valid, url: "nope" }))).toBe(
      "FLAME_PARENT.url",
    );
  });
});

describe("tokens", () => {
  it("are 32 random bytes, base64url, and differ every time", () => {
    const a = generateToken();
    expect(Buffer.from(a, "base64url")).toHaveLength(32);
    expect(a).not.toBe(generateToken());
  });

  it("compare equal only when identical, including different lengths", () => {
    const a = generateToken();
    expect(tokensEqual(a, a)).toBe(true);
    expect(tokensEqual(a, `${a}x`)).toBe(false);
    expect(tokensEqual(a, a.slice(1))).toBe(false);
    expect(tokensEqual(a, "")).toBe(false);
    expect(tokensEqual(a, generateToken())).toBe(false);
  });
});
