# One image for the api, worker, sandbox and migrate commands (docker-compose.yml picks the command).
# Build: docker build -t orderpay .

# ---- build: compile TypeScript and the workflow bundle -------------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are not needed to compile: the Temporal core bridge ships prebuilt, and the embedded PostgreSQL
# binaries (npm start only) are not used in containers.
RUN npm ci --ignore-scripts --no-audit --no-fund
# Sources only: .dockerignore keeps out node_modules, dist, .data, .tools, tests and docs.
COPY . .
RUN npm run build

# ---- runtime: production dependencies and the compiled output only -------------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional drops embedded-postgres' platform binaries (~100 MB) and the SWC compilers: the worker runs the
# prebuilt dist/workflow-bundle.js, so nothing is compiled at run time.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The migration runner reads the SQL files from db/migrations next to package.json.
COPY db/migrations ./db/migrations
USER node
EXPOSE 3000 12111
# Overridden per service in docker-compose.yml: dist/worker/main.js, dist/sandbox/main.js, dist/db/migrate-cli.js.
CMD ["node", "dist/api/main.js"]
