/** Reported in the hello. Kept as a constant (not read from package.json) so bundles work; a test checks it matches. */
export const AGENT_VERSION = "0.1.0";
