/**
 * Turns what dockerode/docker-modem throws into sentences a user can act on. Two shapes:
 * an HTTP status from the daemon (`statusCode` + `json.message`), or a socket error
 * (`code` such as ECONNREFUSED/ENOENT) when the daemon is not reachable at all.
 */

interface DockerHttpError {
  readonly statusCode: number;
  readonly json?: { readonly message?: string } | null;
  readonly reason?: string;
}

export function dockerStatus(error: unknown): number | null {
  const status = (error as Partial<DockerHttpError> | null)?.statusCode;
  return typeof status === "number" ? status : null;
}

/** The daemon's own message for an HTTP error, else the error's message. */
export function dockerMessage(error: unknown): string {
  const e = error as Partial<DockerHttpError> & { message?: string };
  const fromDaemon = e?.json?.message;
  if (typeof fromDaemon === "string" && fromDaemon !== "") return fromDaemon.trim();
  return typeof e?.message === "string" ? e.message : String(error);
}

const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ENOENT", "EACCES", "ECONNRESET", "EPIPE"]);

export function isDaemonUnreachable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && UNREACHABLE_CODES.has(code);
}

export function isNoSuchImage(error: unknown): boolean {
  return (
    dockerStatus(error) === 404 &&
    // Not a bare "not found": a missing network on create is a 404 "network x not found".
    /no such image|pull access denied|repository does not exist|manifest .*not found/i.test(
      dockerMessage(error),
    )
  );
}

/** 404 (already gone) and 409 (already stopping / removal in progress) are fine when cleaning up. */
export function isGoneOrBusy(error: unknown): boolean {
  const status = dockerStatus(error);
  return status === 404 || status === 409 || status === 304;
}

export function describeDaemonEndpoint(modem: {
  socketPath?: unknown;
  host?: unknown;
  port?: unknown;
}): string {
  if (typeof modem.socketPath === "string") return modem.socketPath;
  if (typeof modem.host === "string") return `${modem.host}:${String(modem.port ?? "")}`;
  return "the default Docker endpoint";
}
