/**
 * A local Fly Machines API emulator (test fixture). Same endpoints, status codes, error body
 * (`{"error": "..."}`), states (created → started → stopped → destroyed), bearer-token check,
 * `wait?state=&instance_id=&timeout=`, `metadata.*` list filters and per-action rate limits as
 * documented at https://fly.io/docs/machines/api/machines-resource/ and
 * https://fly.io/docs/machines/api/working-with-machines-api/ — and every created Machine is a
 * real local process (see images.ts) started with the Machine's env.
 *
 * Fault switches: `failCreates`, `rateLimitNext`, `crash`, `capacityError` (see README).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type {
  CreateMachineRequest,
  Machine,
  MachineState,
  StopMachineRequest,
} from "../../src/machines-api.js";
import type { ImageSpec } from "./images.js";
import { validateCreate, validateStop } from "./schema.js";

/** Fly's answer when a host has no room (seen from flaps as a 409). */
export const CAPACITY_ERROR_MESSAGE =
  "aborted: insufficient resources available to fulfill request: insufficient memory available to fulfill request";

export interface FlyEmulatorOptions {
  readonly token: string;
  readonly app: string;
  /** Image name → what runs. An image not listed fails the create with 400. */
  readonly images: Readonly<Record<string, ImageSpec>>;
  readonly region?: string;
  /** Enforce Fly's 1 req/s per action per Machine (burst 3; get 5/s burst 10). Default true. */
  readonly enforceRateLimits?: boolean;
  /** How long a `stop` waits after the signal before SIGKILL when the body has no timeout. Default 5 s. */
  readonly defaultStopTimeoutMs?: number;
}

interface EmulatedMachine {
  machine: Machine;
  child: ChildProcess | undefined;
  stateWaiters: Set<() => void>;
  stderrTail: string[];
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly body: unknown;
}

export class FlyEmulator {
  readonly options: FlyEmulatorOptions;
  /** Every request answered, in order (for assertions on what the client sent). */
  readonly requests: RequestRecord[] = [];
  readonly #machines = new Map<string, EmulatedMachine>();
  readonly #server: Server;
  readonly #buckets = new Map<string, Bucket>();
  #createFaults: Array<{ status: number; message: string }> = [];
  #capacityMessage: string | undefined;
  readonly #rateLimitFaults = new Map<string, number>();
  #url = "";

  private constructor(options: FlyEmulatorOptions) {
    this.options = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        this.#send(req, res, 500, { error: `emulator error: ${String(error)}` }, undefined);
      });
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

  /** The next `count` requests of `action` ("create", "stop", "get", …) answer 429. */
  rateLimitNext(action: string, count: number): void {
    this.#rateLimitFaults.set(action, (this.#rateLimitFaults.get(action) ?? 0) + count);
  }

  /** The Machine's process dies at once (SIGKILL), as a VM crash would. */
  crash(machineId: string): void {
    const entry = this.#machines.get(machineId);
    if (!entry?.child || entry.child.exitCode !== null || entry.child.signalCode !== null)
      throw new Error(`machine ${machineId} has no running process`);
    entry.child.kill("SIGKILL");
  }

  // ---- inspection -----------------------------------------------------------------------

  /** Every Machine ever created (destroyed ones too), as the API would show them. */
  machines(): Machine[] {
    return [...this.#machines.values()].map((entry) => structuredClone(entry.machine));
  }

  machine(id: string): Machine | undefined {
    const entry = this.#machines.get(id);
    return entry ? structuredClone(entry.machine) : undefined;
  }

  /** Pid of a Machine's process while it runs. */
  pid(id: string): number | undefined {
    const child = this.#machines.get(id)?.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** Last stderr lines of a Machine's process. */
  stderr(id: string): string[] {
    return [...(this.#machines.get(id)?.stderrTail ?? [])];
  }

  /** Resolves when the Machine reaches `state` (destroyed counts as stopped), or rejects after `timeoutMs`. */
  waitFor(
    id: string,
    state: "started" | "stopped" | "destroyed",
    timeoutMs = 20_000,
  ): Promise<void> {
    const entry = this.#machines.get(id);
    if (!entry) return Promise.reject(new Error(`no machine ${id}`));
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!reached(entry.machine.state, state)) return;
        clearTimeout(timer);
        entry.stateWaiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        entry.stateWaiters.delete(check);
        reject(
          new Error(
            `machine ${id} did not reach ${state} within ${timeoutMs} ms (state ${entry.machine.state})`,
          ),
        );
      }, timeoutMs);
      entry.stateWaiters.add(check);
      check();
    });
  }

  /** Kills every Machine process and closes the server. */
  async close(): Promise<void> {
    const exits: Promise<void>[] = [];
    for (const entry of this.#machines.values()) {
      const child = entry.child;
      if (child && child.exitCode === null && child.signalCode === null) {
        exits.push(new Promise<void>((resolve) => child.once("exit", () => resolve())));
        child.kill("SIGKILL");
      }
    }
    await Promise.all(exits);
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- HTTP -----------------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<undefined> {
    const url = new URL(req.url ?? "/", this.#url);
    const bodyText = await readBody(req);
    let body: unknown;
    if (bodyText !== "") {
      try {
        body = JSON.parse(bodyText);
      } catch {
        return this.#send(req, res, 400, { error: "invalid JSON body" }, bodyText);
      }
    }
    if (req.headers.authorization !== `Bearer ${this.options.token}`)
      return this.#send(req, res, 401, { error: "You must be authenticated to view this." }, body);

    const match = /^\/v1\/apps\/([^/]+)\/machines(?:\/([^/]+))?(?:\/([^/]+))?\/?$/.exec(
      url.pathname,
    );
    if (!match) return this.#send(req, res, 404, { error: "not found" }, body);
    const [, app, id, verb] = match;
    if (decodeURIComponent(app ?? "") !== this.options.app)
      return this.#send(req, res, 404, { error: "app not found" }, body);

    const route = `${req.method} ${id === undefined ? "" : verb === undefined ? ":id" : `:id/${verb}`}`;
    const action = actionOf(route);
    if (action === undefined) return this.#send(req, res, 404, { error: "not found" }, body);
    if (this.#rateLimited(action, id ?? app ?? ""))
      return this.#send(req, res, 429, { error: "rate limit exceeded" }, body, {
        "retry-after": "1",
      });

    switch (route) {
      case "GET ":
        return this.#send(req, res, 200, this.#list(url.searchParams), body);
      case "POST ":
        return this.#create(req, res, body);
      case "GET :id":
        return this.#withMachine(req, res, id, body, (entry) =>
          this.#send(req, res, 200, entry.machine, body),
        );
      case "GET :id/wait":
        return this.#withMachine(req, res, id, body, (entry) =>
          this.#wait(req, res, entry, url.searchParams, body),
        );
      case "POST :id/stop":
        return this.#withMachine(req, res, id, body, (entry) => this.#stop(req, res, entry, body));
      case "DELETE :id":
        return this.#withMachine(req, res, id, body, (entry) =>
          this.#destroy(req, res, entry, url.searchParams.get("force") === "true", body),
        );
      default:
        return this.#send(req, res, 404, { error: "not found" }, body);
    }
  }

  #rateLimited(action: string, scope: string): boolean {
    const forced = this.#rateLimitFaults.get(action) ?? 0;
    if (forced > 0) {
      this.#rateLimitFaults.set(action, forced - 1);
      return true;
    }
    if (this.options.enforceRateLimits === false) return false;
    const [perSecond, burst] = action === "get" ? [5, 10] : [1, 3];
    const key = `${action}:${scope}`;
    const nowMs = Date.now();
    const bucket = this.#buckets.get(key) ?? { tokens: burst, atMs: nowMs };
    const tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.atMs) / 1000) * perSecond);
    if (tokens < 1) {
      this.#buckets.set(key, { tokens, atMs: nowMs });
      return true;
    }
    this.#buckets.set(key, { tokens: tokens - 1, atMs: nowMs });
    return false;
  }

  #withMachine(
    req: IncomingMessage,
    res: ServerResponse,
    id: string | undefined,
    body: unknown,
    then: (entry: EmulatedMachine) => undefined,
  ): undefined {
    const entry = id === undefined ? undefined : this.#machines.get(decodeURIComponent(id));
    if (!entry) return this.#send(req, res, 404, { error: "machine not found" }, body);
    then(entry);
  }

  #list(params: URLSearchParams): Machine[] {
    const includeDeleted = params.get("include_deleted") === "true";
    const region = params.get("region");
    const metadata = [...params].filter(([key]) => key.startsWith("metadata."));
    return [...this.#machines.values()]
      .map((entry) => entry.machine)
      .filter((m) => includeDeleted || m.state !== "destroyed")
      .filter((m) => region === null || m.region === region)
      .filter((m) =>
        metadata.every(
          ([key, value]) => m.config.metadata?.[key.slice("metadata.".length)] === value,
        ),
      );
  }

  #create(req: IncomingMessage, res: ServerResponse, body: unknown): undefined {
    const problem = validateCreate(body, "");
    if (problem) return this.#send(req, res, 400, { error: problem }, body);
    const request = body as CreateMachineRequest;
    const fault = this.#createFaults.shift();
    if (fault) return this.#send(req, res, fault.status, { error: fault.message }, body);
    if (this.#capacityMessage)
      return this.#send(req, res, 409, { error: this.#capacityMessage }, body);
    const image = this.options.images[request.config.image];
    if (!image)
      return this.#send(
        req,
        res,
        400,
        { error: `failed to resolve image ${request.config.image}: not found` },
        body,
      );
    if (
      request.name &&
      [...this.#machines.values()].some(
        (e) => e.machine.name === request.name && e.machine.state !== "destroyed",
      )
    )
      return this.#send(
        req,
        res,
        409,
        { error: `already_exists: a machine named ${request.name} exists` },
        body,
      );

    const id = randomBytes(7).toString("hex");
    const nowIso = new Date().toISOString();
    const machine: Machine = {
      id,
      name: request.name ?? `emulated-${id.slice(0, 6)}`,
      state: "created",
      region: request.region ?? this.options.region ?? "local",
      instance_id: randomBytes(13).toString("hex").toUpperCase(),
      private_ip: "::1",
      config: structuredClone(request.config),
      created_at: nowIso,
      updated_at: nowIso,
      events: [{ type: "launch", status: "created", source: "user", timestamp: Date.now() }],
    };
    const entry: EmulatedMachine = {
      machine,
      child: undefined,
      stateWaiters: new Set(),
      stderrTail: [],
      exitCode: null,
      exitSignal: null,
    };
    this.#machines.set(id, entry);
    if (request.skip_launch !== true) this.#launch(entry, image);
    this.#send(req, res, 200, machine, body);
  }

  #launch(entry: EmulatedMachine, image: ImageSpec): void {
    const { machine } = entry;
    // A Machine sees its config env plus Fly's runtime variables, not the emulator's env.
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ...machine.config.env,
      FLY_APP_NAME: this.options.app,
      FLY_MACHINE_ID: machine.id,
      FLY_ALLOC_ID: machine.id,
      FLY_REGION: machine.region,
      FLY_PRIVATE_IP: machine.private_ip,
      FLY_IMAGE_REF: machine.config.image,
      FLY_MACHINE_VERSION: machine.instance_id,
      FLY_VM_MEMORY_MB: String(machine.config.guest?.memory_mb ?? 256),
    };
    const child = spawn(image.command, [...image.args], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    entry.child = child;
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) if (line.trim() !== "") entry.stderrTail.push(line);
      if (entry.stderrTail.length > 50) entry.stderrTail.splice(0, entry.stderrTail.length - 50);
    });
    child.once("spawn", () => this.#setState(entry, "started", "start"));
    child.once("error", (error) => {
      entry.stderrTail.push(`emulator: failed to start: ${error.message}`);
      this.#onExit(entry, 127, null);
    });
    child.once("exit", (code, signal) => this.#onExit(entry, code, signal));
  }

  #onExit(entry: EmulatedMachine, code: number | null, signal: NodeJS.Signals | null): void {
    if (entry.machine.state === "destroyed") return;
    entry.exitCode = code;
    entry.exitSignal = signal;
    entry.machine.events?.unshift({
      type: "exit",
      status: "stopped",
      source: "flyd",
      timestamp: Date.now(),
      request: {
        exit_event: {
          exit_code: code ?? (signal === "SIGKILL" ? 137 : 143),
          requested_stop: false,
        },
      },
    });
    this.#setState(entry, "stopped", "exit");
    // restart.policy "no" never restarts; auto_destroy removes the Machine once it stops.
    if (entry.machine.config.auto_destroy === true) this.#setState(entry, "destroyed", "destroy");
  }

  #setState(entry: EmulatedMachine, state: MachineState, event: string): void {
    if (entry.machine.state === "destroyed") return;
    entry.machine.state = state;
    entry.machine.updated_at = new Date().toISOString();
    if (event !== "exit")
      entry.machine.events?.unshift({
        type: event,
        status: state,
        source: "flyd",
        timestamp: Date.now(),
      });
    for (const waiter of [...entry.stateWaiters]) waiter();
  }

  #wait(
    req: IncomingMessage,
    res: ServerResponse,
    entry: EmulatedMachine,
    params: URLSearchParams,
    body: unknown,
  ): undefined {
    const state = params.get("state") ?? "started";
    if (state !== "started" && state !== "stopped" && state !== "destroyed")
      return this.#send(
        req,
        res,
        400,
        { error: `invalid state ${state}: use started, stopped or destroyed` },
        body,
      );
    const instanceId = params.get("instance_id");
    if (state === "stopped" && instanceId === null)
      return this.#send(
        req,
        res,
        400,
        { error: "instance_id is required when waiting for stopped" },
        body,
      );
    if (instanceId !== null && instanceId !== entry.machine.instance_id)
      return this.#send(
        req,
        res,
        400,
        { error: `instance_id ${instanceId} is not this machine's version` },
        body,
      );
    const timeoutSeconds = Number(params.get("timeout") ?? 60);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 60)
      return this.#send(
        req,
        res,
        400,
        { error: "timeout must be an integer between 1 and 60 seconds" },
        body,
      );

    const finish = (status: number, answer: unknown) => {
      clearTimeout(timer);
      entry.stateWaiters.delete(check);
      res.off("close", onClose);
      this.#send(req, res, status, answer, body);
    };
    const check = () => {
      if (reached(entry.machine.state, state)) finish(200, { ok: true });
    };
    const onClose = () => {
      clearTimeout(timer);
      entry.stateWaiters.delete(check);
    };
    const timer = setTimeout(
      () =>
        finish(408, {
          error: `deadline_exceeded: machine did not reach ${state} in ${timeoutSeconds}s`,
        }),
      timeoutSeconds * 1000,
    );
    entry.stateWaiters.add(check);
    res.on("close", onClose);
    check();
  }

  #stop(
    req: IncomingMessage,
    res: ServerResponse,
    entry: EmulatedMachine,
    body: unknown,
  ): undefined {
    const problem = body === undefined ? undefined : validateStop(body, "");
    if (problem) return this.#send(req, res, 400, { error: problem }, body);
    if (entry.machine.state === "destroyed")
      return this.#send(req, res, 404, { error: "machine not found" }, body);
    const request = (body ?? {}) as StopMachineRequest;
    const child = entry.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const signal = (request.signal ?? "SIGINT") as NodeJS.Signals;
      const killAfterMs =
        parseSeconds(request.timeout) ?? this.options.defaultStopTimeoutMs ?? 5_000;
      this.#setState(entry, "stopping", "stop");
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
      child.once("exit", () => clearTimeout(timer));
    }
    this.#send(req, res, 200, { ok: true }, body);
  }

  #destroy(
    req: IncomingMessage,
    res: ServerResponse,
    entry: EmulatedMachine,
    force: boolean,
    body: unknown,
  ): undefined {
    if (entry.machine.state === "destroyed")
      return this.#send(req, res, 404, { error: "machine not found" }, body);
    const child = entry.child;
    const running = child !== undefined && child.exitCode === null && child.signalCode === null;
    if (running && !force)
      return this.#send(
        req,
        res,
        412,
        {
          error: `failed_precondition: unable to destroy machine, not currently stopped or suspended (state ${entry.machine.state})`,
        },
        body,
      );
    const done = (): undefined => {
      this.#setState(entry, "destroyed", "destroy");
      return this.#send(req, res, 200, { ok: true }, body);
    };
    if (!running) return done();
    // Like flyd, answer once the VM is really gone.
    child.once("exit", done);
    child.kill("SIGKILL");
  }

  #send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    answer: unknown,
    body: unknown,
    headers: Record<string, string> = {},
  ): undefined {
    this.requests.push({ method: req.method ?? "", path: req.url ?? "", status, body });
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(answer));
  }
}

function reached(current: MachineState, wanted: string): boolean {
  if (wanted === "started") return current === "started";
  if (wanted === "stopped") return current === "stopped" || current === "destroyed";
  return current === "destroyed";
}

function actionOf(route: string): string | undefined {
  switch (route) {
    case "GET ":
      return "list";
    case "POST ":
      return "create";
    case "GET :id":
      return "get";
    case "GET :id/wait":
      return "wait";
    case "POST :id/stop":
      return "stop";
    case "DELETE :id":
      return "destroy";
    default:
      return undefined;
  }
}

/** "10s" / "10" → ms. */
function parseSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)s?$/.exec(value.trim());
  return match ? Number(match[1]) * 1000 : undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", () => resolve(text));
    req.on("error", reject);
  });
}
