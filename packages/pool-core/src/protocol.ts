export * from "./protocol/messages.js";
