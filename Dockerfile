# pnsmgr image: TypeScript compiled to JavaScript in a build stage (npm run build -> dist/), run by
# plain node on Node 22 LTS with production dependencies only (no tsx, no TypeScript, no dev
# dependency at run time). `npm start` runs the same entry point, dist/lib/main.js.
#   docker build -t pnsmgr:latest .

# ---- build: every dependency, then tsc -p tsconfig.build.json (lib/ and generated/ into dist/) ----
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY lib ./lib
COPY generated ./generated
RUN npm run build

# ---- runtime: production dependencies and the built JavaScript ----
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error && npm cache clean --force
COPY --from=build /src/dist ./dist
# The `pnsmgr` CLI (package.json "bin"): `kubectl exec ... -- pnsmgr events --follow`.
RUN chmod 0755 dist/lib/cli/pnsmgr.js && ln -s /app/dist/lib/cli/pnsmgr.js /usr/local/bin/pnsmgr

# The image's own "node" user, numeric so that Kubernetes runAsNonRoot can verify it. Nothing is
# written to the filesystem at run time, so the root filesystem may be mounted read-only.
USER 1000:1000

# 5006: seed connection plane (proxy-nsmd); 5005: seed registry plane (proxy-nsmd-k8s); 5004: NSM v1
# listener (NSM_LISTEN_ON). Every listener serves grpc.health.v1.
EXPOSE 5004 5005 5006

# node is PID 1 and gets SIGTERM itself: pnsmgr drains and exits 0.
CMD ["node", "dist/lib/main.js"]
