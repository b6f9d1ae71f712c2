# syntax=docker/dockerfile:1
# The participant agent's image. Build from the repository's root:
#   docker build -f deploy/agent.Dockerfile -t fl-agent .
# Plain JavaScript, without the optional native modules. No key and no data are baked in:
# mount the site's key directory at /var/lib/fl-agent and its data read-only.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS toolchain
# Compilers for the native modules that have no prebuilt binary for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json ./
COPY shared/package.json shared/
COPY coordinator/package.json coordinator/
COPY coordinator/dashboard/package.json coordinator/dashboard/
COPY participant-agent/package.json participant-agent/
COPY test/package.json test/

FROM toolchain AS build
RUN npm ci --omit=optional --workspace @fl/shared --workspace @fl/participant-agent --include-workspace-root
COPY shared shared
COPY participant-agent participant-agent
RUN npx tsc -b participant-agent

# --omit=optional leaves out bufferutil, a native speed-up of the socket the agent does without.
FROM toolchain AS dependencies
RUN npm ci --omit=dev --omit=optional --workspace @fl/shared --workspace @fl/participant-agent

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /src/package.json ./
COPY --from=dependencies /src/node_modules node_modules
COPY --from=build /src/shared/package.json shared/
COPY --from=build /src/shared/dist shared/dist
COPY --from=build /src/participant-agent/package.json participant-agent/
COPY --from=build /src/participant-agent/bin participant-agent/bin
COPY --from=build /src/participant-agent/dist participant-agent/dist
# The key, the pinned coordinator key and the journal live here, owned by the unprivileged user "node" (uid 1000).
RUN mkdir -p /var/lib/fl-agent && chown 1000:1000 /var/lib/fl-agent && chmod 700 /var/lib/fl-agent
USER 1000:1000
VOLUME ["/var/lib/fl-agent"]
# The agent serves nothing: healthy while it can reach the coordinator it was given in FL_COORDINATOR_URL
# (the same address as --coordinator; add NODE_EXTRA_CA_CERTS for a private CA), and healthy without one.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const u = process.env.FL_COORDINATOR_URL; if (!u) process.exit(0); fetch(u.replace(/\\/$/, '') + '/api/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "participant-agent/bin/fl-agent.js"]
CMD ["--help"]
