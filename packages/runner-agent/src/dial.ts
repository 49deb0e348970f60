/**
 * Dial the parent once: authenticate at the upgrade, check the parent's proof, say hello, wait
 * for welcome. Retrying and the failsafe are the agent machine's (lifecycle/machine.ts); this
 * only reports how the attempt went. A refusal (HTTP 401/403/426 at the upgrade, close code
 * 4002, a parent that can't prove it knows the token, a TLS certificate other than the pinned
 * one) is final: retrying with the same token can't help.
 */
import type { ClientRequest } from "node:http";
import { hostname } from "node:os";
import type { TLSSocket } from "node:tls";
import {
  bearer,
  type Codec,
  decodeFrame,
  encodeFrame,
  HEADER_NONCE,
  HEADER_PROOF,
  HEADER_PROTOCOL,
  HEADER_RUNNER,
  newNonce,
  proofMatches,
  wsMaxPayloadFor,
} from "@flame-ts/pool-core/protocol";
import { CLOSE_PROTOCOL, type ParentDescriptor, PROTOCOL_VERSION } from "@flame-ts/pool-core/wire";
import { type RawData, WebSocket } from "ws";
import { AGENT_VERSION } from "./version.js";

/** Frames that arrived after welcome but before the session took over. */
export interface WelcomedLink {
  readonly ws: WebSocket;
  /** Hands over frames: those already buffered, then every later one. */
  takeFrames(sink: (data: RawData, isBinary: boolean) => void): void;
}

export type DialResult =
  | { readonly kind: "welcomed"; readonly link: WelcomedLink }
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "unreachable"; readonly reason: string };

/**
 * One attempt to reach the parent. It sets no timer of its own: the agent's machine owns the
 * failsafe and the backoff between attempts, and aborts `abandoned` when it gives up.
 */
export function dialOnce(
  descriptor: ParentDescriptor,
  codec: Codec,
  functions: readonly string[],
  abandoned: AbortSignal,
): Promise<DialResult> {
  return new Promise((resolve) => {
    let settled = false;
    let welcomed = false;
    const buffered: Array<[RawData, boolean]> = [];
    let sink: ((data: RawData, isBinary: boolean) => void) | null = null;
    const nonce = newNonce();
    const pinned = descriptor.tlsCertSha256;
    // Called from the TLS handshake, after `ws` and `settle` exist.
    const onPinMismatch = (got: string): void => {
      ws.terminate();
      settle({
        kind: "refused",
        reason: `parent's TLS certificate ${got} is not the pinned ${pinned}`,
      });
    };
    const ws = new WebSocket(descriptor.url, {
      maxPayload: wsMaxPayloadFor(descriptor.maxFrameBytes),
      perMessageDeflate: false,
      headers: {
        [HEADER_RUNNER]: descriptor.runnerId,
        authorization: bearer(descriptor.token),
        [HEADER_NONCE]: nonce,
        [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
      },
      // A pinned certificate replaces CA checks (it may be self-signed): the request, and so
      // the token, is written only once the TLS handshake showed exactly that certificate.
      ...(pinned === undefined
        ? {}
        : {
            rejectUnauthorized: false,
            finishRequest: (req: ClientRequest) => sendAfterPinCheck(req, pinned, onPinMismatch),
          }),
    });
    const onAbandoned = (): void => {
      ws.terminate();
      settle({ kind: "unreachable", reason: "abandoned while dialing" });
    };
    const settle = (result: DialResult): void => {
      if (settled) return;
      settled = true;
      abandoned.removeEventListener("abort", onAbandoned);
      resolve(result);
    };
    if (abandoned.aborted) {
      onAbandoned();
      return;
    }
    abandoned.addEventListener("abort", onAbandoned, { once: true });
    let proven = false;
    ws.on("upgrade", (res) => {
      // Mutual authentication: only a holder of our token can compute this proof.
      proven = proofMatches(
        descriptor.token,
        descriptor.runnerId,
        nonce,
        headerOf(res.headers[HEADER_PROOF]),
      );
    });
    ws.on("unexpected-response", (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      ws.terminate();
      if (status === 401 || status === 403 || status === 426) {
        settle({ kind: "refused", reason: `refused by parent: HTTP ${status} at the upgrade` });
      } else {
        settle({ kind: "unreachable", reason: `parent answered the upgrade with HTTP ${status}` });
      }
    });
    ws.on("error", (err) => {
      if (!welcomed) settle({ kind: "unreachable", reason: err.message });
    });
    ws.on("open", () => {
      if (!proven) {
        ws.terminate();
        settle({
          kind: "refused",
          reason: `the parent at ${descriptor.url} could not prove it knows this runner's token; not serving it`,
        });
        return;
      }
      try {
        ws.send(
          encodeFrame(
            {
              t: "hello",
              runnerId: descriptor.runnerId,
              protocol: PROTOCOL_VERSION,
              functions,
              agentVersion: AGENT_VERSION,
              pid: process.pid,
              host: hostname(),
            },
            codec,
            descriptor.maxFrameBytes,
          ),
        );
      } catch (err) {
        ws.terminate();
        settle({ kind: "refused", reason: `could not send hello: ${(err as Error).message}` });
      }
    });
    ws.on("message", (data, isBinary) => {
      if (welcomed) {
        if (sink !== null) sink(data, isBinary);
        else buffered.push([data, isBinary]);
        return;
      }
      const decoded = Buffer.isBuffer(data) ? decodeFrame(data, codec) : null;
      if (decoded?.ok && decoded.msg.t === "welcome") {
        welcomed = true;
        settle({
          kind: "welcomed",
          link: {
            ws,
            takeFrames(next) {
              sink = next;
              for (const [d, b] of buffered.splice(0)) next(d, b);
            },
          },
        });
        return;
      }
      ws.terminate();
      settle({ kind: "refused", reason: "parent sent something other than welcome" });
    });
    ws.on("close", (code, reasonBuf) => {
      if (welcomed) return;
      const reason = reasonBuf.toString() || `code ${code}`;
      if (code === CLOSE_PROTOCOL) {
        settle({ kind: "refused", reason: `refused by parent: ${reason}` });
      } else {
        settle({ kind: "unreachable", reason: `closed before welcome (${reason})` });
      }
    });
  });
}

function headerOf(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * ws' `finishRequest`: write the upgrade request (which carries the token) only after the TLS
 * handshake presented the pinned certificate; otherwise destroy it unsent.
 */
function sendAfterPinCheck(
  req: ClientRequest,
  pinned: string,
  mismatch: (got: string) => void,
): void {
  req.once("socket", (raw) => {
    const socket = raw as TLSSocket;
    const check = (): void => {
      const got = socket.getPeerCertificate()?.fingerprint256 ?? "(none)";
      if (got === pinned) {
        req.end();
        return;
      }
      req.destroy();
      mismatch(got);
    };
    if (socket.encrypted && !socket.connecting && socket.getPeerCertificate()?.fingerprint256) {
      check();
    } else {
      socket.once("secureConnect", check);
    }
  });
}
