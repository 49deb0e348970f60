// (filled by the core work: see module doc in reducer.ts)
export * from "./types.js";
