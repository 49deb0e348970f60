/**
 * Runtime shape checks, one per message type: a frame that decodes fine but carries the
 * wrong shape is rejected as clearly as one that doesn't decode. Each check returns null when
 * the message is well-formed, or a sentence saying what is wrong. Never throws.
 */

type Fields = Record<string, unknown>;
type Check = (m: Fields) => string | null;

const isId = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
const isStr = (v: unknown): boolean => typeof v === "string";
const isOptStr = (v: unknown): boolean => v === undefined || typeof v === "string";

function wireError(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Fields;
  return isStr(e.code) && isStr(e.name) && isStr(e.message) && isOptStr(e.stack);
}

function need(ok: boolean, what: string): string | null {
  return ok ? null : what;
}

const withFn: Check = (m) =>
  need(isId(m.id), "id must be a non-negative integer") ??
  need(isStr(m.fn), "fn must be a string") ??
  need(m.args instanceof Uint8Array, "args must be the encoded input (bytes)") ??
  need(isOptStr(m.traceparent), "traceparent must be a string when present");

const isOptTrue = (v: unknown): boolean => v === undefined || v === true;

export const SHAPE_CHECKS: Readonly<Record<string, Check>> = {
  hello: (m) =>
    need(isStr(m.runnerId), "runnerId must be a string") ??
    need(Number.isInteger(m.protocol), "protocol must be an integer") ??
    need(
      Array.isArray(m.functions) && (m.functions as unknown[]).every(isStr),
      "functions must be an array of strings",
    ) ??
    need(isStr(m.agentVersion), "agentVersion must be a string") ??
    need(Number.isInteger(m.pid), "pid must be an integer") ??
    need(isStr(m.host), "host must be a string") ??
    need(
      Number.isInteger(m.threads) && (m.threads as number) >= 1,
      "threads must be an integer ≥ 1",
    ),
  loading: (m) =>
    need(isStr(m.runnerId), "runnerId must be a string") ??
    need(Number.isInteger(m.protocol), "protocol must be an integer") ??
    need(m.entry === null || isStr(m.entry), "entry must be a string or null"),
  welcome: (m) => need(isStr(m.runnerId), "runnerId must be a string"),
  call: (m) =>
    withFn(m) ??
    need(
      m.timeoutMs === null ||
        (typeof m.timeoutMs === "number" && Number.isFinite(m.timeoutMs) && m.timeoutMs >= 0),
      "timeoutMs must be a non-negative number or null",
    ),
  cast: withFn,
  "child.start": withFn,
  cancel: (m) => need(isId(m.id), "id must be a non-negative integer"),
  "child.stop": (m) => need(isId(m.id), "id must be a non-negative integer"),
  shutdown: (m) =>
    need(isStr(m.reason), "reason must be a string") ??
    need(
      m.timeoutMs === undefined || (typeof m.timeoutMs === "number" && m.timeoutMs >= 0),
      "timeoutMs must be a non-negative number when present",
    ),
  result: settled,
  "child.exit": settled,
  "cast.done": settled,
  ended: (m) => need(isId(m.id), "id must be a non-negative integer"),
  unqueue: (m) => need(isId(m.id), "id must be a non-negative integer"),
  unqueued: (m) => need(isId(m.id), "id must be a non-negative integer"),
  release: (m) =>
    need(isId(m.id), "id must be a non-negative integer") ??
    need(isId(m.index), "index must be a non-negative integer"),
  released: (m) =>
    need(isId(m.id), "id must be a non-negative integer") ??
    need(isId(m.index), "index must be a non-negative integer") ??
    need(m.error === undefined || wireError(m.error), "error must be {code, name, message}") ??
    need(isOptTrue(m.lost), "lost must be true when present"),
  error: (m) =>
    need(m.id === null || isId(m.id), "id must be a non-negative integer or null") ??
    need(
      m.code === "PROTOCOL" || m.code === "SERIALIZATION" || m.code === "UNKNOWN_FUNCTION",
      "code must be PROTOCOL, SERIALIZATION or UNKNOWN_FUNCTION",
    ) ??
    need(isStr(m.message), "message must be a string"),
};

function settled(m: Fields): string | null {
  return (
    need(isId(m.id), "id must be a non-negative integer") ??
    need(typeof m.ok === "boolean", "ok must be a boolean") ??
    need(
      m.ok === true || wireError(m.error),
      "error must be {code, name, message} when ok is false",
    ) ??
    need(isOptTrue(m.answeredEarly), "answeredEarly must be true when present") ??
    need(isOptTrue(m.tracked), "tracked must be true when present")
  );
}
