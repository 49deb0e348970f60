/**
 * FLAME_PARENT: how a backend tells a runner where its parent is. base64url of JSON, so it
 * survives every environment-variable channel (Docker, Fly metadata, shells) unescaped.
 */
import { FlameError, invalidOption } from "../errors.js";
import type { ExecutionSettings, ParentDescriptor } from "./messages.js";

export function encodeParentDescriptor(descriptor: ParentDescriptor): string {
  // Validate on the way out too: a backend should fail at boot, not leave a runner that exits 1.
  validateDescriptor(descriptor);
  return Buffer.from(JSON.stringify(descriptor), "utf8").toString("base64url");
}

/** Throws FlameError INVALID_OPTIONS naming the bad field (e.g. `FLAME_PARENT.url`). */
export function decodeParentDescriptor(encoded: string): ParentDescriptor {
  if (typeof encoded !== "string" || encoded.length === 0) {
    throw invalidOption("FLAME_PARENT", "a base64url JSON parent descriptor", encoded);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch (cause) {
    throw new FlameError(
      "INVALID_OPTIONS",
      "Invalid option `FLAME_PARENT`: not base64url-encoded JSON. It is set by the pool's backend; start runners through a backend or encode it with encodeParentDescriptor().",
      { field: "FLAME_PARENT", cause },
    );
  }
  return validateDescriptor(parsed);
}

function validateDescriptor(value: unknown): ParentDescriptor {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidOption("FLAME_PARENT", "a JSON object", value);
  }
  const d = value as Record<string, unknown>;
  const f = (name: string) => `FLAME_PARENT.${name}`;

  const url = d.url;
  if (typeof url !== "string" || !isWsUrl(url)) {
    throw invalidOption(f("url"), "a ws:// or wss:// URL", url);
  }
  nonEmptyString(d.token, f("token"));
  nonEmptyString(d.runnerId, f("runnerId"));
  if (typeof d.pool !== "string") throw invalidOption(f("pool"), "a string", d.pool);
  if (!Number.isInteger(d.protocol) || (d.protocol as number) < 1) {
    throw invalidOption(f("protocol"), "a positive integer", d.protocol);
  }
  if (d.idleShutdownAfterMs !== null && !nonNegativeNumber(d.idleShutdownAfterMs)) {
    throw invalidOption(
      f("idleShutdownAfterMs"),
      "null or a non-negative number",
      d.idleShutdownAfterMs,
    );
  }
  if (typeof d.singleUse !== "boolean") {
    throw invalidOption(f("singleUse"), "a boolean", d.singleUse);
  }
  if (!nonNegativeNumber(d.failsafeTimeoutMs) || d.failsafeTimeoutMs === 0) {
    throw invalidOption(f("failsafeTimeoutMs"), "a positive number", d.failsafeTimeoutMs);
  }
  if (!nonNegativeNumber(d.shutdownTimeoutMs)) {
    throw invalidOption(f("shutdownTimeoutMs"), "a non-negative number", d.shutdownTimeoutMs);
  }
  if (!Number.isInteger(d.maxFrameBytes) || (d.maxFrameBytes as number) < 1024) {
    throw invalidOption(f("maxFrameBytes"), "an integer ≥ 1024", d.maxFrameBytes);
  }
  if (!nonNegativeNumber(d.heartbeatIntervalMs) || d.heartbeatIntervalMs === 0) {
    throw invalidOption(f("heartbeatIntervalMs"), "a positive number", d.heartbeatIntervalMs);
  }
  if (
    !nonNegativeNumber(d.heartbeatTimeoutMs) ||
    d.heartbeatTimeoutMs <= (d.heartbeatIntervalMs as number)
  ) {
    throw invalidOption(
      f("heartbeatTimeoutMs"),
      "a number of ms greater than heartbeatIntervalMs",
      d.heartbeatTimeoutMs,
    );
  }
  if (!Number.isInteger(d.maxConcurrency) || (d.maxConcurrency as number) < 1) {
    throw invalidOption(f("maxConcurrency"), "an integer ≥ 1", d.maxConcurrency);
  }
  const execution = validateExecution(d.execution, f("execution"));
  const tls = d.tlsCertSha256;
  if (tls !== undefined && (typeof tls !== "string" || !SHA256_FINGERPRINT.test(tls))) {
    throw invalidOption(f("tlsCertSha256"), 'a SHA-256 fingerprint "AB:CD:…" (32 hex pairs)', tls);
  }
  if (tls !== undefined && !url.startsWith("wss:")) {
    throw invalidOption(f("tlsCertSha256"), "to be set only with a wss:// url", tls);
  }
  return {
    url,
    token: d.token as string,
    runnerId: d.runnerId as string,
    pool: d.pool,
    protocol: d.protocol as number,
    idleShutdownAfterMs: d.idleShutdownAfterMs as number | null,
    singleUse: d.singleUse,
    failsafeTimeoutMs: d.failsafeTimeoutMs as number,
    shutdownTimeoutMs: d.shutdownTimeoutMs as number,
    maxFrameBytes: d.maxFrameBytes as number,
    heartbeatIntervalMs: d.heartbeatIntervalMs as number,
    heartbeatTimeoutMs: d.heartbeatTimeoutMs as number,
    maxConcurrency: d.maxConcurrency as number,
    execution,
    ...(tls === undefined ? {} : { tlsCertSha256: tls }),
  };
}

/** X509Certificate.fingerprint256's form: 32 upper-case hex pairs joined by ':'. */
const SHA256_FINGERPRINT = /^(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/;

function validateExecution(value: unknown, field: string): ExecutionSettings {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidOption(
      field,
      "an object { mode, threads, terminateGraceMs, threadMemoryMb }",
      value,
    );
  }
  const e = value as Record<string, unknown>;
  if (e.mode !== "threads" && e.mode !== "inline") {
    throw invalidOption(`${field}.mode`, '"threads" or "inline"', e.mode);
  }
  if (e.threads !== null && !(Number.isInteger(e.threads) && (e.threads as number) >= 1)) {
    throw invalidOption(`${field}.threads`, "null or an integer ≥ 1", e.threads);
  }
  if (!nonNegativeNumber(e.terminateGraceMs)) {
    throw invalidOption(`${field}.terminateGraceMs`, "a non-negative number", e.terminateGraceMs);
  }
  if (
    e.threadMemoryMb !== null &&
    !(nonNegativeNumber(e.threadMemoryMb) && e.threadMemoryMb >= 1)
  ) {
    throw invalidOption(`${field}.threadMemoryMb`, "null or a number ≥ 1", e.threadMemoryMb);
  }
  return {
    mode: e.mode,
    threads: e.threads as number | null,
    terminateGraceMs: e.terminateGraceMs,
    threadMemoryMb: e.threadMemoryMb as number | null,
  };
}

function isWsUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "ws:" || u.protocol === "wss:";
  } catch {
    return false;
  }
}

function nonEmptyString(v: unknown, field: string): void {
  if (typeof v !== "string" || v.length === 0) throw invalidOption(field, "a non-empty string", v);
}

function nonNegativeNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}
