# mcp-guard: build with `docker build -t mcp-guard .`, run with
#   docker run --rm -p 8080:8080 -e AGENT_API_KEY -v "$PWD/mcp-guard.yaml:/etc/mcp-guard.yaml:ro" \
#     -v mcp-guard-state:/var/lib/mcp-guard mcp-guard serve-http --config /etc/mcp-guard.yaml
# The config must set `http.host: 0.0.0.0` to be reachable from outside the container (and then auth is
# required: the gateway refuses to listen beyond loopback with `auth.mode: none`). See docs/docker.md.

# --- build: compile TypeScript and the native SQLite driver (node-gyp needs python3, make, g++) ---
FROM node:20-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# --- runtime: only dist/ and production dependencies, as the unprivileged `node` user ---
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /var/lib/mcp-guard && chown node:node /var/lib/mcp-guard
USER node
VOLUME ["/var/lib/mcp-guard"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The gateway sizes its own heap (src/core/heap-tuning.ts, docs/deploy.md#memory): no V8 flags needed here.
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve-http", "--config", "/etc/mcp-guard.yaml"]
