export * from "./token-generator.js";
export * from "./jwt.js";
export * from "./hs256.js";
export * from "./es256.js";
export * from "./metadata.js";
export * from "./time.js";
