/**
 * What an API server's refusal means for a boot. Kubernetes answers with a `Status` object
 * whose message already names what went wrong ("pods is forbidden: User … cannot create
 * resource \"pods\" in API group \"\" in the namespace \"x\""); flame-ts passes it through and
 * says what to do next.
 */

/** The HTTP status of a failed API call or watch; null when no answer came (network, TLS). */
export function apiStatus(error: unknown): number | null {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return null;
}

/** Kubernetes' own message (Status.message) when there is one, else the error's first line. */
export function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown } | null)?.body;
  const status = typeof body === "string" ? parseJson(body) : body;
  const message = (status as { message?: unknown } | null)?.message;
  if (typeof message === "string" && message !== "") return message;
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? text;
}

/**
 * Worth another try inside the boot deadline: a conflict (409), throttling (429), the API
 * server's own trouble (5xx) or no answer at all. Everything else (400, 401, 403, 404, 422)
 * comes back the same on every try.
 */
export function isRetryable(error: unknown): boolean {
  const status = apiStatus(error);
  return status === null || status === 409 || status === 429 || status >= 500;
}

/** What the user should do about a refusal that will not go away by itself. */
export function refusalAdvice(error: unknown): string {
  switch (apiStatus(error)) {
    case 401:
      return "The API server did not accept the credentials: check the kubeConfig option (or the pod's service account token).";
    case 403:
      return 'Grant that verb on that resource to the parent\'s identity (README, "RBAC": the minimal Role).';
    case 404:
      return "Check the namespace option: it must exist.";
    case 400:
    case 422:
      return "Fix the pod the backend builds (podTemplate, resources, env, labels).";
    default:
      return "";
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
