"use client";

import { type FormEvent, useRef, useState } from "react";
import { solveProof } from "../lib/login-proof";

/**
 * The login form. Before it posts, it asks the server whether a proof of work is needed (only
 * while many wrong tokens are being tried) and solves it, so the holder of the right token
 * always gets in, just a moment later during an attack. Without JavaScript it still posts
 * plainly, which works whenever no proof is needed.
 */
export function LoginForm({ error }: { error: string | null }) {
  const challenge = useRef<HTMLInputElement>(null);
  const nonce = useRef<HTMLInputElement>(null);
  const [working, setWorking] = useState(false);

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    setWorking(true);
    try {
      const res = await fetch("/api/login", { cache: "no-store" });
      const next = (await res.json()) as { challenge: string; bits: number };
      if (next.bits > 0 && challenge.current !== null && nonce.current !== null) {
        challenge.current.value = next.challenge;
        nonce.current.value = await solveProof(next.challenge, next.bits);
      }
    } catch {
      // Post without a proof: if one was needed, the server's answer says so.
    }
    // A native submission: the server answers with a redirect (and the session cookie).
    form.submit();
  };

  return (
    <form method="post" action="/api/login" className="panel login-form" onSubmit={onSubmit}>
      <label htmlFor="token">Dashboard token</label>
      <input id="token" name="token" type="password" autoComplete="current-password" required />
      <input ref={challenge} type="hidden" name="challenge" />
      <input ref={nonce} type="hidden" name="nonce" />
      {error !== null ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
      {working ? (
        <p role="status" className="muted">
          Checking… (while many wrong tokens are being tried, your browser does a moment of work
          first)
        </p>
      ) : null}
      <button type="submit" disabled={working}>
        Log in
      </button>
    </form>
  );
}
