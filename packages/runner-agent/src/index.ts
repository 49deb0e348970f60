export { type AgentOptions, entryUrl, type RunningAgent, startAgent } from "./agent.js";
export { type AgentExit, EXIT, type ExitCode } from "./exit-codes.js";
export { AGENT_VERSION } from "./version.js";
