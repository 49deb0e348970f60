/**
 * Dial the parent once: the challenge–response both ways (the parent proves it holds this
 * runner's token before the runner proves anything, challengeParent in pool-core), then the
 * upgrade on the same connection, say hello, wait for welcome. The dial runs while the entry
 * module loads (on the first worker thread): a runner whose functions are not known yet at the
 * upgrade says `loading` (protocol 8), then `hello` once they are. Retrying and the failsafe are
 * the agent machine's (lifecycle/machine.ts); this only reports how the attempt went. A refusal
 * (HTTP 401/403/426, close code 4002, a parent that can't prove it holds the token, a TLS
 * certificate other than the pinned one) is final: retrying with the same token can't help.
 */
import type { Socket } from "node:net";
import { hostname } from "node:os";
import {
  type Codec,
  challengeParent,
  decodeFrame,
  encodeFrame,
  wsMaxPayloadFor,
} from "@flame-ts/pool-core/protocol";
import { CLOSE_PROTOCOL, type ParentDescriptor, PROTOCOL_VERSION } from "@flame-ts/pool-core/wire";
import { type RawData, WebSocket } from "ws";
import { AGENT_VERSION } from "./version.js";

/**
 * The masking key of every frame this runner sends: all zeros. RFC 6455 makes a client mask
 * its frames so that a browser page cannot make a cache or proxy between it and the server
 * read attacker-chosen bytes as HTTP; it is no confidentiality (the key travels in the frame).
 * A runner is no browser and runs no page's script, so on this link masking protects nothing.
 * ws (8.4 and later; this package needs ^8.18) neither masks with a zero key nor unmasks one:
 * the parent no longer spends ~22 ms of one event-loop turn on each 14 MB answer (issue 22,
 * row 2; bench/answer-flood.ts). Over wss:// TLS already hides the bytes from anything on the
 * path; over ws:// the bytes were readable anyway (the key is in the clear), so a zero key shows
 * an observer nothing it could not read before.
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** Frames that arrived after welcome but before the session took over. */
export interface WelcomedLink {
  readonly ws: WebSocket;
  /** Hands over frames: those already buffered, then every later one. */
  takeFrames(sink: (data: RawData, isBinary: boolean) => void): void;
}

/** The runner's functions: known once its entry module loaded. */
export interface EntryLoad {
  /** The entry module's URL, named in `loading`; null when the runner has none. */
  readonly entry: string | null;
  /** Threads that run the functions (1 inline), said in the hello. */
  readonly threads: number;
  /** The function ids, or null while the entry still loads. */
  known(): readonly string[] | null;
  /** Settles when the entry loaded; a failed load is the driver's to act on (it leaves). */
  readonly loaded: Promise<readonly string[]>;
  /** Told when this attempt said `loading`: the parent holds the link, the entry is what it waits on. */
  onLoading(): void;
}

export type DialResult =
  | { readonly kind: "welcomed"; readonly link: WelcomedLink }
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "unreachable"; readonly reason: string };

/**
 * One attempt to reach the parent. It sets no timer of its own: the agent's machine owns the
 * failsafe and the backoff between attempts, and aborts `abandoned` when it gives up.
 */
export async function dialOnce(
  descriptor: ParentDescriptor,
  codec: Codec,
  entry: EntryLoad,
  abandoned: AbortSignal,
): Promise<DialResult> {
  const challenged = await challengeParent({
    url: descriptor.url,
    runnerId: descriptor.runnerId,
    token: descriptor.token,
    tlsCertSha256: descriptor.tlsCertSha256,
    signal: abandoned,
  });
  if (challenged.kind !== "proved") return challenged;
  return upgradeAndHello(descriptor, codec, entry, abandoned, challenged);
}

/** The upgrade on the proved connection, carrying the runner's proof; then hello and welcome. */
function upgradeAndHello(
  descriptor: ParentDescriptor,
  codec: Codec,
  entry: EntryLoad,
  abandoned: AbortSignal,
  proved: { readonly socket: Socket; readonly headers: Readonly<Record<string, string>> },
): Promise<DialResult> {
  return new Promise((resolve) => {
    let settled = false;
    let welcomed = false;
    const buffered: Array<[RawData, boolean]> = [];
    let sink: ((data: RawData, isBinary: boolean) => void) | null = null;
    const ws = new WebSocket(descriptor.url, {
      maxPayload: wsMaxPayloadFor(descriptor.maxFrameBytes),
      perMessageDeflate: false,
      generateMask: zeroMask,
      headers: { ...proved.headers },
      // The connection the challenge was answered on: the parent accepts the proof only there.
      createConnection: () => proved.socket,
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
    const { runnerId, maxFrameBytes } = descriptor;
    /** Sends an opening frame; false (and the attempt refused) when it cannot be encoded. */
    const open = (msg: Parameters<typeof encodeFrame>[0]): boolean => {
      if (settled || ws.readyState !== ws.OPEN) return false;
      try {
        ws.send(encodeFrame(msg, codec, maxFrameBytes));
        return true;
      } catch (err) {
        ws.terminate();
        settle({ kind: "refused", reason: `could not send ${msg.t}: ${(err as Error).message}` });
        return false;
      }
    };
    const sayHello = (functions: readonly string[]): void => {
      open({
        t: "hello",
        runnerId,
        protocol: PROTOCOL_VERSION,
        functions,
        agentVersion: AGENT_VERSION,
        pid: process.pid,
        host: hostname(),
        threads: entry.threads,
      });
    };
    ws.on("open", () => {
      const functions = entry.known();
      if (functions !== null) {
        sayHello(functions);
        return;
      }
      if (!open({ t: "loading", runnerId, protocol: PROTOCOL_VERSION, entry: entry.entry })) return;
      entry.onLoading();
      // A failed load: the driver leaves, which abandons this attempt.
      entry.loaded.then(sayHello, () => {});
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
