/** GET /api/stream: the logged-in page's Server-Sent Events relay of every telemetry endpoint. */
import { upstreams } from "../../../lib/server/config";
import { cookieOf, SESSION_COOKIE, validSession } from "../../../lib/server/session";
import { type RelayFrame, relay, shuttingDown } from "../../../lib/server/upstream";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

/** A browser that stops reading is cut off once this much is queued for it. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** A comment line now and then keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

export function GET(request: Request): Response {
  if (!validSession(cookieOf(request, SESSION_COOKIE))) {
    return new Response("Log in first.\n", { status: 401 });
  }
  if (shuttingDown()) return new Response("The dashboard is stopping.\n", { status: 503 });
  const encoder = new TextEncoder();
  let end = () => {};
  const stream = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let closed = false;
        const enqueue = (text: string) => {
          if (closed) return;
          controller.enqueue(encoder.encode(text));
          if ((controller.desiredSize ?? 0) < 0) end();
        };
        const keepalive = setInterval(() => enqueue(": keepalive\n\n"), KEEPALIVE_MS);
        end = relay(
          upstreams(),
          (frame: RelayFrame) => enqueue(`data: ${JSON.stringify(frame)}\n\n`),
          () => {
            clearInterval(keepalive);
            if (closed) return;
            closed = true;
            try {
              controller.close();
            } catch {
              // already cancelled by the browser
            }
          },
        );
        request.signal.addEventListener("abort", () => end());
        // Tell EventSource how soon to come back after the stream ends.
        enqueue("retry: 1000\n\n");
      },
      cancel() {
        end();
      },
    },
    { highWaterMark: MAX_QUEUED_BYTES, size: (chunk) => chunk.byteLength },
  );
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      // no-transform: Next's compression would otherwise buffer the stream.
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    },
  });
}
