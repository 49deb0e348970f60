/** API calls inside a boot: 409/429/5xx and no answer are tried again; a refusal is thrown at once. */
import { describe, expect, it } from "vitest";
import { withRetries } from "../src/retry.js";

function failing(codes: Array<number | null>) {
  let calls = 0;
  const call = async () => {
    const code = codes[calls++];
    if (code === undefined) return "done";
    throw code === null
      ? new Error("socket hang up")
      : Object.assign(new Error(`HTTP ${code}`), { code });
  };
  return { call, calls: () => calls };
}

describe("withRetries", () => {
  it("tries again on 409, 429, 5xx and no answer, then returns the result", async () => {
    const api = failing([429, 409, 503, null]);
    await expect(withRetries(api.call, AbortSignal.timeout(10_000))).resolves.toBe("done");
    expect(api.calls()).toBe(5);
  });

  it.each([400, 401, 403, 404, 422])(
    "throws %s at once: trying again cannot help",
    async (code) => {
      const api = failing([code]);
      await expect(withRetries(api.call, AbortSignal.timeout(10_000))).rejects.toMatchObject({
        code,
      });
      expect(api.calls()).toBe(1);
    },
  );

  it("gives up when the boot's signal aborts, with the API's last error (it says more than 'aborted')", async () => {
    const api = failing(Array.from({ length: 1000 }, () => 503));
    await expect(withRetries(api.call, AbortSignal.timeout(300))).rejects.toMatchObject({
      code: 503,
    });
    expect(api.calls()).toBeGreaterThan(1);
  });
});
