/**
 * The emulator's judge: Fly's own OpenAPI description of the Machines API.
 *
 * `fly-openapi.json` holds the operations FlyBackend calls and the schemas they reference,
 * transcribed from `superfly/fly-openapi-sdk` `go/api/openapi.yaml` at the commit recorded in
 * its `source` (plus a few `supplements`, each citing Fly's prose docs, for what that commit
 * does not describe). Every request the emulator answers is matched to one of those operations
 * (method + path shape), its query and JSON body are validated with ajv, and every answer the
 * emulator sends is validated against the operation's response schema, so the emulator cannot
 * drift from the description either.
 */
import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";

type Schema = Record<string, unknown>;

interface OperationSpec {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, Schema>;
  readonly body?: Schema;
  readonly bodyRequired?: boolean;
  readonly response?: Schema;
}

interface Description {
  readonly source: { readonly commit: string; readonly repository: string; readonly path: string };
  readonly operations: Record<string, OperationSpec>;
  readonly components: { readonly schemas: Record<string, Schema> };
  readonly supplements: Record<string, { schema?: Schema } & Partial<OperationSpec>>;
}

const DESCRIPTION = JSON.parse(
  readFileSync(new URL("./fly-openapi.json", import.meta.url), "utf8"),
) as Description;

/** The fly-openapi-sdk commit the checks come from. */
export const OPENAPI_SOURCE = DESCRIPTION.source;

/** Header carrying a lease nonce (supplement: Fly's lease docs). */
export const LEASE_NONCE_HEADER = "fly-machine-lease-nonce";

const ROOT_ID = "fly-openapi";

export interface MatchedOperation {
  readonly id: string;
  readonly params: Readonly<Record<string, string>>;
}

interface CompiledOperation {
  readonly id: string;
  readonly method: string;
  readonly pattern: RegExp;
  readonly paramNames: readonly string[];
  readonly query: ValidateFunction;
  readonly body: ValidateFunction | undefined;
  readonly bodyRequired: boolean;
  readonly response: ValidateFunction | undefined;
}

export class FlyApiDescription {
  readonly #operations: CompiledOperation[] = [];
  readonly #error: ValidateFunction;

  constructor() {
    const schemas = structuredClone(DESCRIPTION.components.schemas);
    const supplements = DESCRIPTION.supplements;
    const gpus = supplements["api.MachineGuest.properties.gpus"]?.schema;
    const guest = schemas["api.MachineGuest"] as { properties: Record<string, Schema> };
    if (gpus) guest.properties.gpus = gpus;
    for (const schema of Object.values(schemas)) forbidUnknownFields(schema);

    const ajv = new Ajv({ strict: true, allErrors: false });
    ajv.addSchema({ $id: ROOT_ID, definitions: rewriteRefs(schemas) });
    // Query strings are text: coerce "true"/"60" to the described boolean/integer before checking.
    const queryAjv = new Ajv({ strict: true, coerceTypes: true, allErrors: false });

    const operations: Record<string, OperationSpec> = structuredClone(DESCRIPTION.operations);
    const suspend = supplements.Machines_suspend;
    if (suspend?.method && suspend.path)
      operations.Machines_suspend = { method: suspend.method, path: suspend.path, query: {} };
    const force = supplements["Machines_delete.query.force"]?.schema;
    if (force && operations.Machines_delete) operations.Machines_delete.query.force = force;
    const waitState = supplements["Machines_wait.query.state"]?.schema;
    if (waitState && operations.Machines_wait) operations.Machines_wait.query.state = waitState;
    const metadataFilter = supplements["Machines_list.query.metadata.*"]?.schema;

    for (const [id, spec] of Object.entries(operations)) {
      const paramNames: string[] = [];
      const source = spec.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
        paramNames.push(name);
        return "([^/]+)";
      });
      const querySchema: Schema = {
        type: "object",
        properties: spec.query,
        // Our strictness choice (as for bodies): an undescribed query parameter is an error.
        additionalProperties: false,
        ...(id === "Machines_list" && metadataFilter
          ? { patternProperties: { "^metadata\\.": metadataFilter } }
          : {}),
      };
      this.#operations.push({
        id,
        method: spec.method,
        pattern: new RegExp(`^/v1${source}/?$`),
        paramNames,
        query: queryAjv.compile(querySchema),
        body: spec.body ? ajv.compile(rewriteRefs(spec.body)) : undefined,
        bodyRequired: spec.bodyRequired === true,
        response: spec.response ? ajv.compile(rewriteRefs(spec.response)) : undefined,
      });
    }
    this.#error = ajv.compile({ $ref: `${ROOT_ID}#/definitions/ErrorResponse` });
  }

  /** The described operation for this method and path, or undefined (Fly answers 404). */
  match(method: string, pathname: string): MatchedOperation | undefined {
    for (const op of this.#operations) {
      if (op.method !== method) continue;
      const found = op.pattern.exec(pathname);
      if (!found) continue;
      const params: Record<string, string> = {};
      op.paramNames.forEach((name, i) => {
        params[name] = decodeURIComponent(found[i + 1] ?? "");
      });
      return { id: op.id, params };
    }
    return undefined;
  }

  /** A problem with the query, or undefined. */
  checkQuery(id: string, search: URLSearchParams): string | undefined {
    const op = this.#op(id);
    const query: Record<string, string> = {};
    for (const [key, value] of search) {
      if (key in query) return `query parameter ${key} given twice`;
      query[key] = value;
    }
    if (op.query(query)) return undefined;
    return `query ${describeErrors(op.query.errors)}`;
  }

  /** A problem with the JSON body (undefined = no body sent), or undefined. */
  checkBody(id: string, body: unknown): string | undefined {
    const op = this.#op(id);
    if (body === undefined) return op.bodyRequired ? "a JSON request body is required" : undefined;
    if (!op.body) return "this endpoint takes no request body";
    return op.body(body) ? undefined : describeErrors(op.body.errors);
  }

  /** A problem with an answer the emulator is about to send, or undefined. */
  checkResponse(id: string | undefined, status: number, answer: unknown): string | undefined {
    if (status >= 400)
      return this.#error(answer) ? undefined : `error body ${describeErrors(this.#error.errors)}`;
    const validate = id === undefined ? undefined : this.#op(id).response;
    if (!validate) return undefined;
    return validate(answer) ? undefined : describeErrors(validate.errors);
  }

  #op(id: string): CompiledOperation {
    const op = this.#operations.find((candidate) => candidate.id === id);
    if (!op) throw new Error(`no operation ${id} in the description`);
    return op;
  }
}

/**
 * Fly's description leaves `additionalProperties` open (OpenAPI's default allows unknown
 * fields, and Fly's Go decoder ignores them). We close every object that lists its properties
 * and says nothing about extra ones: that is OUR strictness choice, so that a misnamed field
 * (`memoryMb` for `memory_mb`) fails a test here instead of being silently dropped by Fly.
 * Maps the description declares as maps (`env`, `metadata`: `additionalProperties: {...}`)
 * keep their declared value schema.
 */
function forbidUnknownFields(schema: unknown): void {
  if (Array.isArray(schema)) {
    for (const item of schema) forbidUnknownFields(item);
    return;
  }
  if (typeof schema !== "object" || schema === null) return;
  const record = schema as Schema;
  if (record.properties !== undefined && record.additionalProperties === undefined)
    record.additionalProperties = false;
  for (const value of Object.values(record)) forbidUnknownFields(value);
}

/** `#/components/schemas/X` → `fly-openapi#/definitions/X` (one ajv schema holds them all). */
function rewriteRefs<T>(schema: T): T {
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${ROOT_ID}#/definitions/`),
  ) as T;
}

/** ajv's first error, phrased with the field path as a client would write it. */
function describeErrors(errors: ErrorObject[] | null | undefined): string {
  const error = errors?.[0];
  if (!error) return "is invalid";
  const at = error.instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce(
      (path, part) =>
        /^\d+$/.test(part) ? `${path}[${part}]` : path === "" ? part : `${path}.${part}`,
      "",
    );
  if (error.keyword === "additionalProperties") {
    const field = String((error.params as { additionalProperty: string }).additionalProperty);
    return `unknown field ${at === "" ? field : `${at}.${field}`}`;
  }
  return `${at === "" ? "body" : at} ${error.message ?? "is invalid"}`;
}
