export * from "./context.js";
export * from "./deadline.js";
export * from "./element.js";
export * from "./errors.js";
export * from "./trace.js";
export * from "./upstream.js";
export * from "./forward.js";
export * from "./next-hop-response.js";
