# pnsmgr image: runs the TypeScript sources directly through tsx (a production dependency, see
# package.json), so there is no build step and no dev dependency in the image.
#   docker build -t pnsmgr:latest .
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Production dependencies only: @grpc/grpc-js, @bufbuild/protobuf, rxjs, yaml and tsx itself.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error && npm cache clean --force

# The gateway and its generated gRPC code (generated/ is checked in; no codegen in the image).
COPY tsconfig.json ./
COPY lib ./lib
COPY generated ./generated

# The image's own "node" user, numeric so that Kubernetes runAsNonRoot can verify it.
USER 1000:1000

# 5006: connection plane (the seed's proxy-nsmd); 5005: registry plane (the seed's proxy-nsmd-k8s).
# Both ports serve every service, grpc.health.v1 included.
EXPOSE 5005 5006

# node is PID 1 and gets SIGTERM itself: pnsmgr drains and exits 0.
CMD ["node", "--import", "tsx", "lib/main.ts"]
