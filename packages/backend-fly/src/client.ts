/**
 * A small typed client for the Machines API endpoints flame-ts uses. `fetch`-based (inject
 * your own for tests or proxies). Every request is paced to Fly's per-action limits; a non-2xx
 * answer becomes a `FlyApiError` carrying the status and Fly's `error` message. Retrying is the
 * caller's choice (see retry.ts): only the caller knows its deadline.
 */
import {
  type CreateLeaseRequest,
  type CreateMachineRequest,
  LEASE_NONCE_HEADER,
  type Lease,
  type ListMachinesQuery,
  type Machine,
  type StopMachineRequest,
  type UpdateMachineRequest,
  type WaitQuery,
} from "./machines-api.js";
import {
  ActionPacer,
  DEFAULT_ACTION_LIMIT,
  GET_MACHINE_LIMIT,
  type RateLimit,
} from "./rate-limit.js";

export interface FlyMachinesClientOptions {
  /** Base URL without `/v1`, e.g. `https://api.machines.dev` or `http://_api.internal:4280`. */
  readonly apiUrl: string;
  readonly token: string;
  readonly app: string;
  readonly fetch?: typeof fetch;
  /** Set false to send requests unpaced (the server's 429s still apply). Default true. */
  readonly pace?: boolean;
}

export interface RequestOptions {
  /** Aborts the request at any point (a create cut off mid-flight may still make a Machine). */
  readonly signal?: AbortSignal;
  /** Aborts only while the request waits for its rate-limit turn; once sent it completes. */
  readonly queueSignal?: AbortSignal;
  /** Nonce of the lease we hold on the Machine (sent as `fly-machine-lease-nonce`). */
  readonly leaseNonce?: string;
}

/**
 * Fly counts requests per app and Machine, not per client object: every client of the same
 * API URL and app shares one pacer (several pools in one process share Fly's budget).
 */
const sharedPacers = new Map<string, ActionPacer>();

function pacerFor(apiUrl: string, app: string): ActionPacer {
  const key = `${apiUrl}|${app}`;
  let pacer = sharedPacers.get(key);
  if (!pacer) {
    pacer = new ActionPacer();
    sharedPacers.set(key, pacer);
  }
  return pacer;
}

/** A Machines API request that did not succeed. */
export class FlyApiError extends Error {
  override readonly name = "FlyApiError";
  /** HTTP status, or 0 when no response arrived (network error). */
  readonly status: number;
  /** Fly's `error` field, or the raw body when it had none. */
  readonly flyMessage: string;
  /** e.g. "create", "stop"; the action as Fly rate-limits it. */
  readonly action: string;
  /** From a Retry-After header, when the server sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(
    action: string,
    status: number,
    flyMessage: string,
    retryAfterMs?: number,
    cause?: unknown,
  ) {
    super(describeFailure(action, status, flyMessage), cause === undefined ? undefined : { cause });
    this.action = action;
    this.status = status;
    this.flyMessage = flyMessage;
    this.retryAfterMs = retryAfterMs;
  }
}

function describeFailure(action: string, status: number, flyMessage: string): string {
  if (status === 0) return `Fly Machines API ${action} failed: ${flyMessage}`;
  const hint =
    status === 401
      ? " Check FLY_API_TOKEN (or the `token` option): it is missing, expired or not allowed for this app; `fly tokens create deploy -a <app>` makes one."
      : status === 404
        ? " Check the app name (FLY_APP_NAME / `app`) and the machine id."
        : "";
  return `Fly Machines API ${action} failed with HTTP ${status}: ${flyMessage}.${hint}`;
}

export class FlyMachinesClient {
  readonly app: string;
  readonly #base: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #pace: boolean;
  readonly #pacer: ActionPacer;
  readonly #options: FlyMachinesClientOptions;

  constructor(options: FlyMachinesClientOptions) {
    this.#options = options;
    this.app = options.app;
    this.#base = `${options.apiUrl.replace(/\/+$/, "")}/v1/apps/${encodeURIComponent(options.app)}/machines`;
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
    this.#pace = options.pace ?? true;
    this.#pacer = pacerFor(this.#base, options.app);
  }

  /** The same API URL, token and fetch for another app (parents may live in their own app). */
  forApp(app: string): FlyMachinesClient {
    return app === this.app ? this : new FlyMachinesClient({ ...this.#options, app });
  }

  /** `POST /v1/apps/{app}/machines`. */
  createMachine(body: CreateMachineRequest, options: RequestOptions = {}): Promise<Machine> {
    return this.#send<Machine>("create", this.app, "POST", "", body, options);
  }

  /** `GET /v1/apps/{app}/machines/{id}`. */
  getMachine(id: string, options: RequestOptions = {}): Promise<Machine> {
    return this.#send<Machine>(
      "get",
      id,
      "GET",
      `/${enc(id)}`,
      undefined,
      options,
      GET_MACHINE_LIMIT,
    );
  }

  /**
   * `GET /v1/apps/{app}/machines/{id}/wait?state=&instance_id=&timeout=`.
   * Resolves true when the state was reached, false when Fly answered 408 (timed out).
   */
  async waitForState(id: string, query: WaitQuery, options: RequestOptions = {}): Promise<boolean> {
    const params = new URLSearchParams({ state: query.state });
    if (query.instance_id !== undefined) params.set("instance_id", query.instance_id);
    if (query.timeout !== undefined) params.set("timeout", String(query.timeout));
    try {
      await this.#send("wait", id, "GET", `/${enc(id)}/wait?${params}`, undefined, options);
      return true;
    } catch (error) {
      if (error instanceof FlyApiError && error.status === 408) return false;
      throw error;
    }
  }

  /** `POST /v1/apps/{app}/machines/{id}/stop`. */
  async stopMachine(
    id: string,
    body: StopMachineRequest = {},
    options: RequestOptions = {},
  ): Promise<void> {
    await this.#send("stop", id, "POST", `/${enc(id)}/stop`, body, options);
  }

  /** `POST /v1/apps/{app}/machines/{id}/start` (a stopped Machine boots, a suspended one resumes). */
  async startMachine(id: string, options: RequestOptions = {}): Promise<void> {
    await this.#send("start", id, "POST", `/${enc(id)}/start`, undefined, options);
  }

  /** `POST /v1/apps/{app}/machines/{id}/suspend`. */
  async suspendMachine(id: string, options: RequestOptions = {}): Promise<void> {
    await this.#send("suspend", id, "POST", `/${enc(id)}/suspend`, undefined, options);
  }

  /** `POST /v1/apps/{app}/machines/{id}`: a new config (a new `instance_id`). */
  updateMachine(
    id: string,
    body: UpdateMachineRequest,
    options: RequestOptions = {},
  ): Promise<Machine> {
    return this.#send<Machine>("update", id, "POST", `/${enc(id)}`, body, options);
  }

  /**
   * `POST /v1/apps/{app}/machines/{id}/lease`. Fly answers 409 while someone else holds it.
   * The OpenAPI description returns the Lease itself; Fly's live API has been seen to wrap it
   * as `{ status, data: Lease }`, so both are read.
   */
  async acquireLease(
    id: string,
    body: CreateLeaseRequest,
    options: RequestOptions = {},
  ): Promise<Lease> {
    const raw = await this.#send<Lease | { data: Lease }>(
      "lease",
      id,
      "POST",
      `/${enc(id)}/lease`,
      body,
      options,
    );
    const lease = "data" in raw ? raw.data : raw;
    if (typeof lease?.nonce !== "string")
      throw new FlyApiError("lease", 200, "lease answer without a nonce");
    return lease;
  }

  /** `DELETE /v1/apps/{app}/machines/{id}/lease` with the lease's nonce. */
  async releaseLease(id: string, nonce: string, options: RequestOptions = {}): Promise<void> {
    await this.#send("release_lease", id, "DELETE", `/${enc(id)}/lease`, undefined, {
      ...options,
      leaseNonce: nonce,
    });
  }

  /** `DELETE /v1/apps/{app}/machines/{id}?force=true|false`. */
  async destroyMachine(id: string, force: boolean, options: RequestOptions = {}): Promise<void> {
    await this.#send("destroy", id, "DELETE", `/${enc(id)}?force=${force}`, undefined, options);
  }

  /** `GET /v1/apps/{app}/machines?metadata.{key}=value&region=&include_deleted=`. */
  listMachines(query: ListMachinesQuery = {}, options: RequestOptions = {}): Promise<Machine[]> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query.metadata ?? {}))
      params.set(`metadata.${key}`, value);
    if (query.region !== undefined) params.set("region", query.region);
    if (query.include_deleted !== undefined)
      params.set("include_deleted", String(query.include_deleted));
    const search = params.size > 0 ? `?${params}` : "";
    return this.#send<Machine[]>("list", this.app, "GET", search, undefined, options);
  }

  async #send<T>(
    action: string,
    scope: string,
    method: string,
    path: string,
    body: unknown,
    options: RequestOptions,
    limit: RateLimit = DEFAULT_ACTION_LIMIT,
  ): Promise<T> {
    // Paced: the request leaves when Fly's bucket must have room for it, and gives its slot
    // back once its answer (or failure) is in (rate-limit.ts says why the answer, not the
    // departure, bounds when Fly counted it).
    const answered = this.#pace
      ? await this.#pacer.acquire(
          `${action}:${scope}`,
          limit,
          anySignal(options.signal, options.queueSignal),
        )
      : undefined;
    let response: Response;
    try {
      response = await this.#fetch(`${this.#base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(options.leaseNonce ? { [LEASE_NONCE_HEADER]: options.leaseNonce } : {}),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new FlyApiError(
        action,
        0,
        error instanceof Error ? error.message : String(error),
        undefined,
        error,
      );
    } finally {
      answered?.();
    }
    const text = await response.text();
    if (!response.ok) {
      throw new FlyApiError(
        action,
        response.status,
        flyErrorMessage(text, response.statusText),
        parseRetryAfterMs(response.headers.get("retry-after"), Date.now()),
      );
    }
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }
}

/** Parses a Retry-After header (seconds or an HTTP date) into milliseconds from `nowMs`. */
export function parseRetryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const atMs = Date.parse(header);
  return Number.isNaN(atMs) ? undefined : Math.max(0, atMs - nowMs);
}

function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  return present.length <= 1 ? present[0] : AbortSignal.any(present);
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

/** Fly answers errors as `{"error": "..."}`; fall back to the raw body or status text. */
function flyErrorMessage(text: string, statusText: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (
      parsed &&
      typeof parsed === "object" &&
      "error" in parsed &&
      typeof parsed.error === "string"
    )
      return parsed.error;
  } catch {
    // not JSON: use the text as it is
  }
  return text.trim() === "" ? statusText : text.trim();
}
