# latchkey container image. Docker does not run on the machine this project is developed on:
# this file is kept in step with the commands the tests run (see docs/operations.md#containers).
#
#   docker build -t latchkey .
#   docker run --rm -p 3000:3000 -e HOST=0.0.0.0 -e DATABASE_URL=postgres://… latchkey

# ---- build: compile TypeScript and the native modules (bcrypt, argon2, better-sqlite3) ----
FROM node:20-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# ---- runtime: only what `node dist/cli/main.js` needs, as an unprivileged user ----
FROM node:20-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:/app/data/latchkey.db
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# /app/data holds the SQLite database when DATABASE_URL is left at its default: mount a volume.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
VOLUME ["/app/data"]
# Node's own fetch: the slim image has no curl or wget.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# serve migrates first (unless --no-migrate) and stops gracefully on SIGTERM (docker stop).
CMD ["node", "dist/cli/main.js", "serve"]
