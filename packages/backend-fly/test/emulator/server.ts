/**
 * A local Fly Machines API emulator (test fixture). Every request is matched to an operation of
 * Fly's OpenAPI description and validated against it (openapi.ts); every answer is validated
 * too. Machines follow Fly's documented states (machine.ts) and run a real local process;
 * several apps (each with its own secrets) can live side by side; leases guard updates.
 *
 * Fault switches: `failCreates`, `rateLimitNext`, `crash`, `capacityError` (see README).
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type * as Fly from "./fly-types.js";
import { ACTIONS, LEASED, RateLimits, reached, readBody } from "./http.js";
import type { ImageSpec } from "./images.js";
import {
  type EmulatedLatencyMs,
  EmulatedMachine,
  type EmulatedRecord,
  FLY_PUBLISHED_LATENCY_MS,
  type MachineState,
  newInstanceId,
} from "./machine.js";
import { acceptConfig, onMachine, type Reply, type RequestCtx } from "./machine-routes.js";
import { FlyApiDescription, LEASE_NONCE_HEADER } from "./openapi.js";

export {
  type EmulatedLatencyMs,
  FLY_PUBLISHED_LATENCY_MS,
  NO_LATENCY_MS,
} from "./machine.js";

/** Fly's answer when a host has no room (seen from flaps as a 409). */
export const CAPACITY_ERROR_MESSAGE =
  "aborted: insufficient resources available to fulfill request: insufficient memory available to fulfill request";

export interface FlyEmulatorOptions {
  readonly token: string;
  /** The default app. */
  readonly app: string;
  /** More apps, by name, with the secrets Fly injects into each of their Machines. */
  readonly apps?: Readonly<Record<string, { readonly secrets?: Readonly<Record<string, string>> }>>;
  /** Which apps each extra token may touch (`token` may touch every app). */
  readonly scopedTokens?: Readonly<Record<string, readonly string[]>>;
  /** Image name → what runs. An image not listed fails the create with 400. */
  readonly images: Readonly<Record<string, ImageSpec>>;
  readonly region?: string;
  /** Enforce Fly's 1 req/s per action per Machine (burst 3; get 5/s burst 10). Default true. */
  readonly enforceRateLimits?: boolean;
  /** How long a `stop` waits after the signal before SIGKILL when the body has no timeout. Default 5 s. */
  readonly defaultStopTimeoutMs?: number;
  /** Emulated create/start/resume latencies. Default FLY_PUBLISHED_LATENCY_MS. */
  readonly latencyMs?: Partial<EmulatedLatencyMs>;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly body: unknown;
  /** The described operation it matched (undefined: none, answered 404). */
  readonly operation: string | undefined;
}

const description = new FlyApiDescription();

export class FlyEmulator {
  readonly options: FlyEmulatorOptions;
  readonly latencyMs: EmulatedLatencyMs;
  /** Every request answered, in order (for assertions on what the client sent). */
  readonly requests: RequestRecord[] = [];
  /** Answers of the emulator that did not fit Fly's description (should stay empty). */
  readonly violations: string[] = [];
  readonly #machines = new Map<string, EmulatedMachine>();
  readonly #server: Server;
  readonly #limits: RateLimits;
  #createFaults: Array<{ status: number; message: string }> = [];
  #capacityMessage: string | undefined;
  #url = "";

  private constructor(options: FlyEmulatorOptions) {
    this.options = options;
    this.latencyMs = { ...FLY_PUBLISHED_LATENCY_MS, ...options.latencyMs };
    this.#limits = new RateLimits(options.enforceRateLimits !== false);
    this.#server = createServer((req, res) => {
      const reply = this.#replier(req, res, undefined, undefined);
      this.#handle(req, res).catch((error: unknown) =>
        reply(500, { error: `emulator error: ${String(error)}` }),
      );
    });
  }

  static async start(options: FlyEmulatorOptions): Promise<FlyEmulator> {
    const emulator = new FlyEmulator(options);
    await new Promise<void>((resolve) => emulator.#server.listen(0, "127.0.0.1", resolve));
    const { port } = emulator.#server.address() as AddressInfo;
    emulator.#url = `http://127.0.0.1:${port}`;
    return emulator;
  }

  /** Base URL to pass as `apiUrl`. */
  get url(): string {
    return this.#url;
  }

  // ---- fault switches -------------------------------------------------------------------

  /** The next `count` creates answer `status` with `{"error": message}`. */
  failCreates(count: number, status: number, message = "failed_precondition: try again"): void {
    for (let i = 0; i < count; i++) this.#createFaults.push({ status, message });
  }

  /** Every create answers 409 with Fly's capacity message until called with `false`. */
  capacityError(on = true, message = CAPACITY_ERROR_MESSAGE): void {
    this.#capacityMessage = on ? message : undefined;
  }

  /** The next `count` requests of `action` ("create", "stop", "get", "start", …) answer 429. */
  rateLimitNext(action: string, count: number): void {
    this.#limits.force(action, count);
  }

  /** The Machine's process dies at once (SIGKILL), as a VM crash would. */
  crash(machineId: string): void {
    const entry = this.#machines.get(machineId);
    if (entry?.pid === undefined) throw new Error(`machine ${machineId} has no running process`);
    entry.kill();
  }

  // ---- inspection -----------------------------------------------------------------------

  /** Every Machine ever created (destroyed ones too), of one app or of all. */
  machines(app?: string): EmulatedRecord[] {
    return [...this.#machines.values()]
      .filter((entry) => app === undefined || entry.app === app)
      .map((entry) => structuredClone(entry.machine));
  }

  machine(id: string): EmulatedRecord | undefined {
    const entry = this.#machines.get(id);
    return entry ? structuredClone(entry.machine) : undefined;
  }

  /** The states a Machine went through, in order. */
  history(id: string): MachineState[] {
    return [...(this.#machines.get(id)?.history ?? [])];
  }

  /** The lease held on a Machine now, if any. */
  leaseOf(id: string): { nonce: string; owner: string } | undefined {
    const lease = this.#machines.get(id)?.leaseHeld();
    return lease ? { nonce: lease.nonce, owner: lease.owner } : undefined;
  }

  /** Pid of a Machine's process while it exists. */
  pid(id: string): number | undefined {
    return this.#machines.get(id)?.pid;
  }

  /** Last stderr lines of a Machine's process. */
  stderr(id: string): string[] {
    return [...(this.#machines.get(id)?.stderrTail ?? [])];
  }

  /** Resolves when the Machine reaches `state` (destroyed counts as stopped), or rejects after `timeoutMs`. */
  waitFor(id: string, state: MachineState, timeoutMs = 20_000): Promise<void> {
    const entry = this.#machines.get(id);
    if (!entry) return Promise.reject(new Error(`no machine ${id}`));
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!reached(entry.state, state)) return;
        clearTimeout(timer);
        entry.stateWaiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        entry.stateWaiters.delete(check);
        reject(
          new Error(`machine ${id} did not reach ${state} in ${timeoutMs} ms (${entry.state})`),
        );
      }, timeoutMs);
      entry.stateWaiters.add(check);
      check();
    });
  }

  /** Kills every Machine process and closes the server. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#machines.values()].filter((e) => e.pid !== undefined).map((e) => e.destroy()),
    );
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- HTTP -----------------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<undefined> {
    const url = new URL(req.url ?? "/", this.#url);
    const op = description.match(req.method ?? "", url.pathname);
    const text = await readBody(req);
    let body: unknown;
    const early = this.#replier(req, res, op?.id, text === "" ? undefined : text);
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        return early(400, { error: "invalid JSON body" });
      }
    }
    const reply = this.#replier(req, res, op?.id, body);
    if (!op) return reply(404, { error: "404 page not found" });
    const app = op.params.app_name ?? "";
    if (!this.#tokenMayUse(req.headers.authorization, app))
      return reply(401, { error: "You must be authenticated to view this." });
    if (app !== this.options.app && !(app in (this.options.apps ?? {})))
      return reply(404, { error: `app not found: ${app}` });
    const problem =
      description.checkQuery(op.id, url.searchParams) ?? description.checkBody(op.id, body);
    if (problem) return reply(400, { error: problem });
    const action = ACTIONS[op.id] ?? op.id;
    if (this.#limits.limited(action, op.params.machine_id ?? app))
      return reply(429, { error: "rate limit exceeded" }, { "retry-after": "1" });
    const ctx: RequestCtx = { req, res, op, app, body, query: url.searchParams, reply };
    if (op.id === "Machines_list") return reply(200, this.#list(app, url.searchParams));
    if (op.id === "Machines_create") return this.#create(ctx);

    const entry = this.#machines.get(op.params.machine_id ?? "");
    // A destroyed Machine can still be read (and waited on) for a while, as on Fly.
    const readable = op.id === "Machines_show" || op.id === "Machines_wait";
    if (!entry || entry.app !== app || (entry.state === "destroyed" && !readable))
      return reply(404, { error: "machine not found" });
    const held = entry.leaseHeld();
    const nonce = req.headers[LEASE_NONCE_HEADER];
    if (held && (LEASED.has(action) || LEASED.has(op.id)) && nonce !== held.nonce)
      return reply(412, {
        error: `failed_precondition: machine ${entry.machine.id} is leased by ${held.owner}; send its nonce in ${LEASE_NONCE_HEADER}`,
      });
    const leaseNonce = typeof nonce === "string" ? nonce : undefined;
    return onMachine(ctx, entry, leaseNonce, this.options.images);
  }

  #tokenMayUse(authorization: string | undefined, app: string): boolean {
    const token = authorization?.startsWith("Bearer ") ? authorization.slice(7) : undefined;
    if (token === undefined) return false;
    if (token === this.options.token) return true;
    return this.options.scopedTokens?.[token]?.includes(app) ?? false;
  }

  #list(app: string, params: URLSearchParams): EmulatedRecord[] {
    const includeDeleted = params.get("include_deleted") === "true";
    const region = params.get("region");
    const metadata = [...params].filter(([key]) => key.startsWith("metadata."));
    return [...this.#machines.values()]
      .filter((entry) => entry.app === app)
      .map((entry) => entry.machine)
      .filter((m) => includeDeleted || m.state !== "destroyed")
      .filter((m) => region === null || m.region === region)
      .filter((m) => metadata.every(([key, value]) => m.config.metadata?.[key.slice(9)] === value));
  }

  #create({ app, body, reply }: RequestCtx): undefined {
    const request = body as Fly.CreateMachineRequest;
    const config = acceptConfig(request.config, this.options.images);
    if (typeof config === "string") return reply(400, { error: config });
    const fault = this.#createFaults.shift();
    if (fault) return reply(fault.status, { error: fault.message });
    if (this.#capacityMessage) return reply(409, { error: this.#capacityMessage });
    const taken = [...this.#machines.values()].some(
      (e) => e.app === app && e.machine.name === request.name && e.state !== "destroyed",
    );
    if (request.name && taken)
      return reply(409, { error: `already_exists: a machine named ${request.name} exists` });
    const id = randomBytes(7).toString("hex");
    const nowIso = new Date().toISOString();
    const machine: EmulatedRecord = {
      id,
      name: request.name ?? `emulated-${id.slice(0, 6)}`,
      state: "created",
      region: request.region ?? this.options.region ?? "local",
      instance_id: newInstanceId(),
      private_ip: "::1",
      config: structuredClone(config),
      created_at: nowIso,
      updated_at: nowIso,
      events: [{ type: "launch", status: "created", source: "user", timestamp: Date.now() }],
    };
    const image = this.options.images[config.image] as ImageSpec;
    const entry = new EmulatedMachine(machine, image, {
      app,
      latency: this.latencyMs,
      secrets: this.options.apps?.[app]?.secrets ?? {},
      defaultStopTimeoutMs: this.options.defaultStopTimeoutMs ?? 5_000,
    });
    this.#machines.set(id, entry);
    if (request.skip_launch !== true) entry.launchAfterCreate();
    return reply(200, machine);
  }

  /** Sends an answer after checking it against the description (a misfit becomes a 500). */
  #replier(
    req: IncomingMessage,
    res: ServerResponse,
    op: string | undefined,
    body: unknown,
  ): Reply {
    return (status, answer, headers = {}) => {
      const misfit = description.checkResponse(op, status, answer);
      if (misfit) {
        this.violations.push(`${req.method} ${req.url} → ${status}: ${misfit}`);
        status = 500;
        answer = { error: `emulator answer does not fit Fly's description: ${misfit}` };
      }
      this.requests.push({
        method: req.method ?? "",
        path: req.url ?? "",
        status,
        body,
        operation: op,
      });
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(answer));
    };
  }
}
