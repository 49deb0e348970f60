import { connection } from "next/server";

export const metadata = { title: "Log in · flame-ts dashboard" };

export default async function LoginPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  await connection();
  const params = await searchParams;
  const failed = params.error !== undefined;
  const throttled = params.error === "throttled";
  const waitSeconds = typeof params.wait === "string" ? Number(params.wait) : 60;
  return (
    <main className="page login">
      <h1>
        <span className="flame" aria-hidden="true">
          ▲
        </span>{" "}
        flame-ts dashboard
      </h1>
      <form method="post" action="/api/login" className="panel login-form">
        <label htmlFor="token">Dashboard token</label>
        <input id="token" name="token" type="password" autoComplete="current-password" required />
        {throttled ? (
          <p role="alert" className="error">
            Too many wrong tokens: try again in {waitSeconds} s.
          </p>
        ) : failed ? (
          <p role="alert" className="error">
            That token is not right. It is the value of FLAME_DASHBOARD_TOKEN (or the one the server
            printed at start).
          </p>
        ) : null}
        <button type="submit">Log in</button>
      </form>
    </main>
  );
}
