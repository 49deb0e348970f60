/** Errors as they cross the wire, and back into FlameError on the parent. */
import { FLAME_ERROR_CODES, FlameError, type FlameErrorCode } from "../errors.js";
import type { WireError } from "./messages.js";

const KNOWN_CODES = new Set<string>(FLAME_ERROR_CODES);

/**
 * A throw inside a function becomes REMOTE_ERROR with its name/message/stack; a FlameError
 * raised by the agent itself (TIMEOUT, ABORTED, ...) keeps its code.
 */
export function toWireError(thrown: unknown, agentCode?: FlameErrorCode): WireError {
  if (thrown instanceof Error) {
    const code = agentCode ?? "REMOTE_ERROR";
    const name = thrown instanceof FlameError ? `FlameError(${thrown.code})` : thrown.name;
    return thrown.stack === undefined
      ? { code, name, message: thrown.message }
      : { code, name, message: thrown.message, stack: thrown.stack };
  }
  return { code: agentCode ?? "REMOTE_ERROR", name: "NonErrorThrown", message: safeString(thrown) };
}

export function fromWireError(error: WireError, fn: string, runnerId: string): FlameError {
  const code: FlameErrorCode = KNOWN_CODES.has(error.code)
    ? (error.code as FlameErrorCode)
    : "REMOTE_ERROR";
  if (code === "REMOTE_ERROR") {
    return new FlameError(
      "REMOTE_ERROR",
      `"${fn}" threw on runner ${runnerId}: ${error.name}: ${error.message}`,
      {
        runnerId,
        remote: { name: error.name, message: error.message, stack: error.stack },
      },
    );
  }
  return new FlameError(code, `"${fn}" on runner ${runnerId}: ${error.message}`, { runnerId });
}

function safeString(v: unknown): string {
  try {
    return typeof v === "string" ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
}
