/**
 * FLAME_PARENT: how a backend tells a runner where its parent is, and the one validator both
 * ends run on it. base64url of JSON, so it survives every environment-variable channel
 * (Docker, Fly metadata, shells) unescaped.
 */
import { heartbeatTimeoutFits, LIMITS, type Limit } from "./limits.js";
import { type Violation, violation } from "./violation.js";

/** The environment variable a backend sets on a runner. */
export const DESCRIPTOR_ENV = "FLAME_PARENT";

/** What a backend puts in the runner's FLAME_PARENT variable (base64url JSON). */
export interface ParentDescriptor {
  /** ws:// or wss:// URL of the parent's listener as the runner must dial it. */
  readonly url: string;
  /**
   * Per-runner random secret: the runner presents it at the upgrade (compared in constant
   * time) and checks the parent's proof of it (protocol/handshake.ts).
   */
  readonly token: string;
  /**
   * SHA-256 fingerprint ("AB:CD:…") of the parent's TLS certificate when `url` is wss://: the
   * runner refuses any other certificate (so a self-signed one is enough). Absent for ws://.
   */
  readonly tlsCertSha256?: string;
  readonly runnerId: string;
  readonly pool: string;
  readonly protocol: number;
  /** The agent exits when idle this long with no calls/children; null = the parent decides. */
  readonly idleShutdownAfterMs: number | null;
  readonly singleUse: boolean;
  /** Exit if the parent can't be reached within this (FLAME: 20 s). */
  readonly failsafeTimeoutMs: number;
  /** Bound on draining at shutdown. */
  readonly shutdownTimeoutMs: number;
  /** Largest frame either side accepts. */
  readonly maxFrameBytes: number;
  /** Both ends ping this often. */
  readonly heartbeatIntervalMs: number;
  /** Both ends drop a link silent this long (no frame, no pong). */
  readonly heartbeatTimeoutMs: number;
  /** The pool's slots per runner: the runner sizes its thread pool by it. */
  readonly maxConcurrency: number;
  readonly execution: ExecutionSettings;
}

/** How a runner executes functions (the pool's `execution` option, resolved). */
export interface ExecutionSettings {
  /** "threads": worker threads (default); "inline": on the agent's own event loop. */
  readonly mode: "threads" | "inline";
  /** Worker threads; null = min(maxConcurrency, CPUs the runner may use). */
  readonly threads: number | null;
  /** After a deadline or cancel, how long a function may keep running before its thread is terminated. */
  readonly terminateGraceMs: number;
  /** Heap cap per worker thread in whole MiB (resourceLimits.maxOldGenerationSizeMb); null = Node's default. */
  readonly threadMemoryMb: number | null;
}

export type DescriptorVerdict =
  | { readonly ok: true; readonly descriptor: ParentDescriptor }
  | { readonly ok: false; readonly violation: Violation };

export function encodeDescriptor(descriptor: ParentDescriptor): string {
  return Buffer.from(JSON.stringify(descriptor), "utf8").toString("base64url");
}

/** Decodes and checks FLAME_PARENT; the verdict names the first bad field. Never throws. */
export function parseDescriptor(encoded: unknown): DescriptorVerdict {
  if (typeof encoded !== "string" || encoded.length === 0) {
    return refuse(DESCRIPTOR_ENV, "a base64url JSON parent descriptor", encoded);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch {
    return {
      ok: false,
      violation: {
        field: DESCRIPTOR_ENV,
        message: `Invalid option \`${DESCRIPTOR_ENV}\`: not base64url-encoded JSON. It is set by the pool's backend; start runners through a backend or encode it with encodeParentDescriptor().`,
      },
    };
  }
  return checkDescriptor(parsed);
}

/** Checks a decoded descriptor; the verdict names the first bad field. Never throws. */
export function checkDescriptor(value: unknown): DescriptorVerdict {
  if (!isRecord(value)) return refuse(DESCRIPTOR_ENV, "a JSON object", value);
  const d = value;
  const bad = firstViolation(d, DESCRIPTOR_FIELDS, `${DESCRIPTOR_ENV}.`);
  if (bad !== null) return { ok: false, violation: bad };
  if (!heartbeatTimeoutFits(d.heartbeatIntervalMs as number, d.heartbeatTimeoutMs as number)) {
    return refuse(
      field("heartbeatTimeoutMs"),
      "a number of ms greater than heartbeatIntervalMs",
      d.heartbeatTimeoutMs,
    );
  }
  const e = d.execution;
  if (!isRecord(e)) {
    return refuse(
      field("execution"),
      "an object { mode, threads, terminateGraceMs, threadMemoryMb }",
      e,
    );
  }
  const badExecution = firstViolation(e, EXECUTION_FIELDS, `${field("execution")}.`);
  if (badExecution !== null) return { ok: false, violation: badExecution };
  const tls = d.tlsCertSha256;
  if (tls !== undefined && (typeof tls !== "string" || !SHA256_FINGERPRINT.test(tls))) {
    return refuse(field("tlsCertSha256"), 'a SHA-256 fingerprint "AB:CD:…" (32 hex pairs)', tls);
  }
  if (tls !== undefined && !(d.url as string).startsWith("wss:")) {
    return refuse(field("tlsCertSha256"), "to be set only with a wss:// url", tls);
  }
  const execution: ExecutionSettings = {
    mode: e.mode as ExecutionSettings["mode"],
    threads: e.threads as number | null,
    terminateGraceMs: e.terminateGraceMs as number,
    threadMemoryMb: e.threadMemoryMb as number | null,
  };
  // Rebuilt field by field so unknown fields in the JSON do not travel on.
  const descriptor: ParentDescriptor = {
    url: d.url as string,
    token: d.token as string,
    runnerId: d.runnerId as string,
    pool: d.pool as string,
    protocol: d.protocol as number,
    idleShutdownAfterMs: d.idleShutdownAfterMs as number | null,
    singleUse: d.singleUse as boolean,
    failsafeTimeoutMs: d.failsafeTimeoutMs as number,
    shutdownTimeoutMs: d.shutdownTimeoutMs as number,
    maxFrameBytes: d.maxFrameBytes as number,
    heartbeatIntervalMs: d.heartbeatIntervalMs as number,
    heartbeatTimeoutMs: d.heartbeatTimeoutMs as number,
    maxConcurrency: d.maxConcurrency as number,
    execution,
    ...(tls === undefined ? {} : { tlsCertSha256: tls as string }),
  };
  return { ok: true, descriptor };
}

const wsUrl: Limit = { expected: "a ws:// or wss:// URL", accepts: isWsUrl };
const nonEmptyString: Limit = {
  expected: "a non-empty string",
  accepts: (v) => typeof v === "string" && v.length > 0,
};
const orNull = (limit: Limit): Limit => ({
  expected: `null or ${limit.expected}`,
  accepts: (v) => v === null || limit.accepts(v),
});

/** Checked in this order, so the first bad field is reported the same on both ends. */
const DESCRIPTOR_FIELDS: ReadonlyArray<readonly [string, Limit]> = [
  ["url", wsUrl],
  ["token", nonEmptyString],
  ["runnerId", nonEmptyString],
  ["pool", { expected: "a string", accepts: (v) => typeof v === "string" }],
  ["protocol", { ...LIMITS.maxConcurrency, expected: "a positive integer" }],
  ["idleShutdownAfterMs", orNull(LIMITS.idleShutdownAfterMs)],
  ["singleUse", { expected: "a boolean", accepts: (v) => typeof v === "boolean" }],
  ["failsafeTimeoutMs", LIMITS.failsafeTimeoutMs],
  ["shutdownTimeoutMs", LIMITS.shutdownTimeoutMs],
  ["maxFrameBytes", LIMITS.maxFrameBytes],
  ["heartbeatIntervalMs", LIMITS.heartbeatIntervalMs],
  ["heartbeatTimeoutMs", LIMITS.heartbeatTimeoutMs],
  ["maxConcurrency", LIMITS.maxConcurrency],
];

const EXECUTION_FIELDS: ReadonlyArray<readonly [string, Limit]> = [
  ["mode", LIMITS.executionMode],
  ["threads", orNull(LIMITS.threads)],
  ["terminateGraceMs", LIMITS.terminateGraceMs],
  ["threadMemoryMb", orNull(LIMITS.threadMemoryMb)],
];

/** X509Certificate.fingerprint256's form: 32 upper-case hex pairs joined by ':'. */
const SHA256_FINGERPRINT = /^(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/;

function firstViolation(
  record: Record<string, unknown>,
  fields: ReadonlyArray<readonly [string, Limit]>,
  prefix: string,
): Violation | null {
  for (const [name, limit] of fields) {
    if (!limit.accepts(record[name])) return violation(prefix + name, limit.expected, record[name]);
  }
  return null;
}

function field(name: string): string {
  return `${DESCRIPTOR_ENV}.${name}`;
}

function refuse(at: string, expected: string, got: unknown): DescriptorVerdict {
  return { ok: false, violation: violation(at, expected, got) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isWsUrl(v: unknown): boolean {
  if (typeof v !== "string") return false;
  try {
    const u = new URL(v);
    return u.protocol === "ws:" || u.protocol === "wss:";
  } catch {
    return false;
  }
}
