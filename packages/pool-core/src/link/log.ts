export type LinkLogLevel = "debug" | "info" | "warn" | "error";
export type LinkLog = (level: LinkLogLevel, msg: string, fields?: Record<string, unknown>) => void;
export const silentLog: LinkLog = () => {};
