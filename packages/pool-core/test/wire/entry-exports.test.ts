/**
 * Each public entry point exports its documented values and nothing else: `./protocol` what
 * the runner agent and backends' tests import, `./telemetry` what the README documents and
 * the dashboard imports, `./wire` the facts both ends of the link agree on. A new export is a
 * decision, made here, not an accident of `export *`. (Types leave no runtime key; the type
 * exports are held by the consumers' typecheck.)
 */
import { describe, expect, it } from "vitest";

const DOCUMENTED: Record<string, readonly string[]> = {
  protocol: [
    "DEFAULT_EXECUTION",
    "DEFAULT_HEARTBEAT_INTERVAL_MS",
    "DEFAULT_HEARTBEAT_TIMEOUT_MS",
    "DeadlineTimer",
    "FlameError",
    "HEADER_CHALLENGE",
    "HEADER_NONCE",
    "HEADER_PROOF",
    "HEADER_PROTOCOL",
    "HEADER_RUNNER",
    "Heartbeat",
    "SendBatcher",
    "challengeParent",
    "clampTimerMs",
    "decodeFrame",
    "decodeParentDescriptor",
    "defineFunction",
    "encodeFrame",
    "encodeParentDescriptor",
    "generateToken",
    "isPromiseLike",
    "listFunctionIds",
    "lookupFunction",
    "newNonce",
    "parentProof",
    "proofEquals",
    "remoteSpanNeeded",
    "runWithRemoteParent",
    "runnerProof",
    "setLongTimeout",
    "toWireError",
    "v8Codec",
    "wsMaxPayloadFor",
  ],
  telemetry: ["instrumentPool", "serveTelemetry"],
  wire: [
    "CLOSE_PROTOCOL",
    "CLOSE_SHUTDOWN",
    "DESCRIPTOR_ENV",
    "ERROR_MESSAGE_KIND",
    "LIMITS",
    "MIN_FRAME_BYTES",
    "PARENT_MESSAGE_KINDS",
    "PROTOCOL_VERSION",
    "RUNNER_EXIT",
    "RUNNER_MESSAGE_KINDS",
    "WORK_KINDS",
    "checkDescriptor",
    "encodeDescriptor",
    "heartbeatTimeoutFits",
    "invalidOptionMessage",
    "parseDescriptor",
    "TRACKED_KEY",
    "formatTrackedRef",
    "parseTrackedRef",
    "replaceTrackedRefs",
    "trackedRefOf",
  ],
};

const sorted = (keys: readonly string[]) => [...keys].sort();

describe("public entry points", () => {
  it.each(Object.keys(DOCUMENTED))(
    "@flame-ts/pool-core/%s exports its documented list",
    async (entry) => {
      const module = (await import(`@flame-ts/pool-core/${entry}`)) as Record<string, unknown>;
      expect(sorted(Object.keys(module))).toEqual(sorted(DOCUMENTED[entry] ?? []));
    },
  );
});
