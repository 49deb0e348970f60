/**
 * Request bodies are read only up to a small bound, before any authentication: a stranger's
 * 300 MB POST must not become 300 MB (or, parsed, a gigabyte) of the dashboard's memory.
 * Every route that reads a body goes through `readBoundedBody`; none calls `request.formData()`
 * or `request.json()` on the raw request.
 */

/** The dashboard's forms and actions are a few hundred bytes; 8 KiB leaves ample room. */
const MAX_BODY_BYTES = 8 * 1024;

/** True when the request declares (Content-Length) a body over the limit: refuse it unread. */
function declaredTooLarge(request: Request, limit = MAX_BODY_BYTES): boolean {
  const declared = request.headers.get("content-length");
  if (declared === null) return false;
  const bytes = Number(declared);
  return !Number.isFinite(bytes) || bytes > limit;
}

/**
 * Reads the body chunk by chunk and gives up as soon as it passes `limit` (a chunked body has
 * no Content-Length to check first). On "too-large" the rest stays unread: the stream is
 * released, not cancelled: cancelling destroys the socket and the client would never see the
 * 413 (see `tooLarge`).
 */
export async function readBoundedBody(
  request: Request,
  limit = MAX_BODY_BYTES,
): Promise<Uint8Array<ArrayBuffer> | "too-large"> {
  if (declaredTooLarge(request, limit)) {
    holdUnread(request);
    return "too-large";
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) return "too-large";
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * Takes one chunk of a body that will not be read, and no more. Node discards ("dumps") the
 * body of a request nobody started reading, at full network speed for as long as the client
 * sends (gigabytes, measured); a started one stays paused instead, like a streamed body cut
 * off at the limit. The pending read fails quietly when the socket closes.
 */
function holdUnread(request: Request): void {
  request.body
    ?.getReader()
    .read()
    .catch(() => {});
}

/**
 * The 413 answer. No `Connection: close`: closing a socket whose unread body is still
 * arriving makes the kernel reset it, and the client then loses the answer (seen: EPIPE
 * instead of 413). Node instead keeps the socket, paused (nothing more is read), until its
 * keep-alive timeout (5 s) closes it.
 */
export function tooLarge(json: boolean, limit = MAX_BODY_BYTES): Response {
  const detail = `The request body is over ${limit} bytes: the dashboard's forms and actions are far smaller, so this was not sent by its page.`;
  return json
    ? Response.json({ ok: false, detail }, { status: 413 })
    : new Response(`${detail}\n`, { status: 413 });
}
