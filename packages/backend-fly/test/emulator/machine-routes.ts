/**
 * The operations on one existing Machine (show, wait, start, suspend, stop, update, delete,
 * leases), answered as Fly documents them. Requests and answers are typed by the description
 * (fly-types.ts), and server.ts has already matched and validated each request against it.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type * as Fly from "./fly-types.js";
import { leaseBody, parseSeconds, reached } from "./http.js";
import type { ImageSpec } from "./images.js";
import type { AcceptedConfig, EmulatedMachine } from "./machine.js";
import type { MatchedOperation } from "./openapi.js";

export type Reply = (
  status: number,
  answer: unknown,
  headers?: Record<string, string>,
) => undefined;

/** One request, matched to a described operation and validated against it. */
export interface RequestCtx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly op: MatchedOperation;
  readonly app: string;
  readonly body: unknown;
  readonly query: URLSearchParams;
  readonly reply: Reply;
}

export type Images = Readonly<Record<string, ImageSpec>>;

/**
 * The config as the emulator runs it, or what Fly would refuse (checks Fly documents in prose,
 * beyond the schema), shared by create and update.
 */
export function acceptConfig(
  config: Fly.MachineConfig | undefined,
  images: Images,
): AcceptedConfig | string {
  const image = config?.image;
  if (config === undefined || image === undefined) return "config.image is required";
  const memory = config.guest?.memory_mb;
  if (memory !== undefined && memory % 256 !== 0)
    return "config.guest.memory_mb must be a multiple of 256";
  if (!images[image]) return `failed to resolve image ${image}: not found`;
  return { ...config, image };
}

export function onMachine(
  ctx: RequestCtx,
  entry: EmulatedMachine,
  nonce: string | undefined,
  images: Images,
): undefined {
  const { reply, body, query } = ctx;
  switch (ctx.op.id) {
    case "Machines_show":
      return reply(200, entry.machine);
    case "Machines_wait":
      return waitForState(ctx, entry);
    case "Machines_start": {
      const refused = entry.start();
      return refused ? reply(412, { error: refused }) : reply(200, { ok: true });
    }
    case "Machines_suspend": {
      const refused = entry.suspend();
      return refused ? reply(412, { error: refused }) : reply(200, { ok: true });
    }
    case "Machines_stop": {
      const request = (body ?? {}) as Fly.StopRequest;
      entry.stop((request.signal ?? "SIGINT") as NodeJS.Signals, parseSeconds(request.timeout));
      return reply(200, { ok: true });
    }
    case "Machines_update":
      return update(ctx, entry, images);
    case "Machines_delete": {
      const force = query.get("force") === "true";
      const idle = ["stopped", "suspended", "created"].includes(entry.state);
      if (!idle && !force)
        return reply(412, {
          error: `failed_precondition: unable to destroy machine, not currently stopped or suspended (state ${entry.state})`,
        });
      // Like flyd, answer once the VM is really gone.
      void entry.destroy().then(() => reply(200, { ok: true }));
      return;
    }
    case "Machines_create_lease": {
      const held = entry.leaseHeld();
      if (held && nonce !== held.nonce)
        return reply(409, { error: `lease currently held by ${held.owner}` });
      const request = body as Fly.CreateLeaseRequest;
      const ttlSeconds = request.ttl ?? 30;
      entry.lease = {
        nonce: held?.nonce ?? randomBytes(8).toString("hex"),
        owner: "emulator-token",
        description: request.description ?? "",
        expiresAtMs: Date.now() + ttlSeconds * 1000,
      };
      return reply(200, leaseBody(entry));
    }
    case "Machines_show_lease":
      return entry.leaseHeld()
        ? reply(200, leaseBody(entry))
        : reply(404, { error: "no active lease" });
    case "Machines_release_lease":
      entry.lease = undefined;
      return reply(200, { ok: true });
    default:
      return reply(404, { error: "404 page not found" });
  }
}

function update({ body, reply }: RequestCtx, entry: EmulatedMachine, images: Images): undefined {
  const request = body as Fly.UpdateMachineRequest;
  const config = acceptConfig(request.config, images);
  if (typeof config === "string") return reply(400, { error: config });
  if (request.current_version && request.current_version !== entry.machine.instance_id)
    return reply(412, { error: "failed_precondition: current_version is not the machine's" });
  if (entry.state !== "stopped" && entry.state !== "created")
    return reply(412, {
      error: `failed_precondition: the emulator updates only stopped machines (state ${entry.state}); stop it first`,
    });
  entry.update(config, images[config.image] as ImageSpec);
  if (request.skip_launch !== true) entry.start();
  return reply(200, entry.machine);
}

function waitForState({ reply, query, res }: RequestCtx, entry: EmulatedMachine): undefined {
  const state = query.get("state") ?? "started";
  const instanceId = query.get("instance_id");
  if (state === "stopped" && instanceId === null)
    return reply(400, { error: "instance_id is required when waiting for stopped" });
  if (instanceId !== null && instanceId !== entry.machine.instance_id)
    return reply(400, { error: `instance_id ${instanceId} is not this machine's version` });
  const timeoutSeconds = Number(query.get("timeout") ?? 60);
  if (timeoutSeconds <= 0 || timeoutSeconds > 60)
    return reply(400, { error: "timeout must be an integer between 1 and 60 seconds" });
  const forget = () => {
    clearTimeout(timer);
    entry.stateWaiters.delete(check);
  };
  const finish = (status: number, answer: unknown) => {
    forget();
    res.off("close", forget);
    reply(status, answer);
  };
  const check = () => {
    if (reached(entry.state, state)) finish(200, { ok: true });
  };
  const timer = setTimeout(
    () => finish(408, { error: `deadline_exceeded: machine did not reach ${state}` }),
    timeoutSeconds * 1000,
  );
  res.on("close", forget);
  entry.stateWaiters.add(check);
  check();
}
