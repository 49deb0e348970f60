import { connection } from "next/server";
import { LoginForm } from "../../components/LoginForm";

export const metadata = { title: "Log in · flame-ts dashboard" };

/** What went wrong on the last attempt (the login route redirects here with `?error=`). */
function message(error: string | string[] | undefined, why: unknown): string | null {
  if (error === undefined) return null;
  if (error === "proof") {
    return why === "missing"
      ? "Many wrong tokens were tried in the last minute, so each login now needs a moment of work from your browser. Turn JavaScript on for this page and log in again."
      : "That login's proof of work had expired or was already used (many wrong tokens are being tried). Log in again: your browser will redo it.";
  }
  return "That token is not right. It is the value of FLAME_DASHBOARD_TOKEN (or the one the server printed at start).";
}

export default async function LoginPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  await connection();
  const params = await searchParams;
  return (
    <main className="page login">
      <h1>
        <span className="flame" aria-hidden="true">
          ▲
        </span>{" "}
        flame-ts dashboard
      </h1>
      <LoginForm error={message(params.error, params.why)} />
    </main>
  );
}
