/**
 * WebSocket close codes of the runner link. A runner whose token is wrong never gets a
 * WebSocket to close (it is refused with 401 at the upgrade), so no close code stands for that.
 */

/** An orderly end of the link (either side). */
export const CLOSE_SHUTDOWN = 4000;
/** The parent refuses a runner that broke the protocol (no or bad hello, other version): it exits REFUSED. */
export const CLOSE_PROTOCOL = 4002;
