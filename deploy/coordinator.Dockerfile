# syntax=docker/dockerfile:1
# The coordinator's image. Build from the repository's root:
#   docker build -f deploy/coordinator.Dockerfile -t fl-coordinator .
# Nothing secret is baked in: tokens and TLS files come from the environment or mounted files at run time.

ARG NODE_IMAGE=node:20-bookworm-slim

# Compilers for better-sqlite3, which builds from source when no prebuilt binary fits.
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every workspace's manifest: the lock file names them all.
COPY package.json package-lock.json tsconfig.base.json ./
COPY shared/package.json shared/
COPY coordinator/package.json coordinator/
COPY coordinator/dashboard/package.json coordinator/dashboard/
COPY participant-agent/package.json participant-agent/
COPY test/package.json test/

# Compiles the coordinator and its dashboard.
FROM toolchain AS build
RUN npm ci --workspace @fl/shared --workspace @fl/coordinator --workspace @fl/dashboard --include-workspace-root
COPY shared shared
COPY coordinator coordinator
RUN npx tsc -b coordinator && npm run build -w @fl/dashboard

# The runtime's dependencies only: no compilers, no TypeScript, no Vite.
FROM toolchain AS dependencies
RUN npm ci --omit=dev --workspace @fl/shared --workspace @fl/coordinator

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    FL_HOST=0.0.0.0 \
    FL_PORT=8080 \
    FL_DATA_DIR=/var/lib/fl-coordinator
WORKDIR /app
COPY --from=dependencies /src/package.json ./
COPY --from=dependencies /src/node_modules node_modules
COPY --from=build /src/shared/package.json shared/
COPY --from=build /src/shared/dist shared/dist
COPY --from=build /src/coordinator/package.json coordinator/
COPY --from=build /src/coordinator/bin coordinator/bin
COPY --from=build /src/coordinator/dist coordinator/dist
COPY --from=build /src/coordinator/dashboard/dist coordinator/dashboard/dist
# The data directory (the SQLite store and the coordinator's key) belongs to the unprivileged user "node" (uid 1000).
RUN mkdir -p /var/lib/fl-coordinator && chown 1000:1000 /var/lib/fl-coordinator && chmod 700 /var/lib/fl-coordinator
USER 1000:1000
VOLUME ["/var/lib/fl-coordinator"]
EXPOSE 8080
# Readiness, not just liveness: it answers 503 when the store does not answer a query.
# Over plain HTTP: with --tls-cert, terminate TLS in front of it or override this check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.FL_PORT || 8080) + '/api/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM tells the agents the coordinator is restarting, then exits 0; jobs resume at the next start.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "coordinator/bin/fl-coordinator.js"]
