import type { Metadata } from "next";
import type { ReactNode } from "react";
import "uplot/dist/uPlot.min.css";
import "./globals.css";

export const metadata: Metadata = {
  title: "flame-ts dashboard",
  description: "Live view of flame-ts pools: runners, slots, waiting callers, latency.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
