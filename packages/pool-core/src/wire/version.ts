/**
 * The runner protocol's version: a parent and a runner that speak different ones refuse each
 * other (at the upgrade and in the frame header) instead of misreading frames.
 *
 * 2: call inputs travel as codec-encoded bytes, deadlines as ms remaining, `ended` added.
 * 3: authentication moved to the HTTP upgrade (protocol/handshake.ts); the hello carries no
 *    token; the parent proves it knows the token; optional wss:// with a pinned certificate.
 * 4: work frames (call, cast, child.start) carry a binary envelope and the input's bytes
 *    unwrapped (protocol/work-frame.ts) instead of a codec-encoded message.
 * 5: the token never travels: a challenge–response both ways on the connection before the
 *    upgrade (protocol/handshake.ts), so nothing a listener sees can be replayed.
 * 6: work frames carry the attempt number and the call's idempotency key (ctx.attempt,
 *    ctx.idempotencyKey: the same key on every retry of one call).
 * 7: tracked resources: a result may hold values the runner keeps (answer flag `tracked`),
 *    calls may be pinned to the call that holds them (work flag + `on`), and the parent
 *    releases each one (`release`, answered by `released`). An answer frame over 1 MiB leaves
 *    the runner as `answer.part` frames (protocol/answer-parts.ts).
 * 8: a runner dials while its entry module still loads: right after the upgrade it may say
 *    `loading` (its entry), then `hello` once the entry loaded. The parent's hello deadline
 *    (`helloTimeoutMs`) covers the dial up to the first frame; `bootTimeout` bounds the load.
 * 9: a runner holds calls beyond its `maxConcurrency` queued and starts them FIFO as slots
 *    free; the parent may take a queued call back (`unqueue`, answered `unqueued` when it had
 *    not started), so a call never waits behind another while some runner has a free slot.
 *    The hello says how many threads run its functions (`threads`): at most that many wait.
 */
export const PROTOCOL_VERSION = 9;
