/**
 * The gRPC metadata names NSM uses to hand a hop's token to the next hop (pkg/tools/token): the
 * token itself and its expiry as RFC 3339 text. The receiving hop writes both into the previous
 * path segment.
 */
export const TOKEN_METADATA = "nsm-client-token";
export const TOKEN_EXPIRES_METADATA = "nsm-client-token-expires";
