# Two images from one build:
#   runtime (the default, last stage): the api, worker and migrate commands (docker-compose.yml picks the command).
#     Production dependencies and the compiled output only, without the sandbox gateway.
#   sandbox: the sandbox gateway, the test double of Stripe, eSewa and Khalti, for development and demos only.
# Build: docker build -t orderpay .    and    docker build --target sandbox -t orderpay-sandbox .

# ---- build: compile TypeScript and the workflow bundle -------------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are not needed to compile: the Temporal core bridge ships prebuilt, and the embedded PostgreSQL
# binaries (a dev dependency, for npm start only) are not used in containers.
RUN npm ci --ignore-scripts --no-audit --no-fund
# Sources only: .dockerignore keeps out node_modules, dist, .data, .tools, tests and docs.
COPY . .
RUN npm run build

# ---- production-dependencies: what both images run on ----------------------------------------------------------------
FROM node:20-bookworm-slim AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no compilers, linters, test tools or embedded PostgreSQL. --omit=optional drops the SWC compilers'
# platform binaries: the worker runs the prebuilt dist/workflow-bundle.js, so nothing is compiled at run time.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# ---- production-output: the compiled output without the sandbox and the benchmarks ---------------------------------
# A stage of its own so the sandbox's files are never in any layer of the runtime image (deleting them in the runtime
# stage would leave them in the layer below). Lint keeps production code from importing sandbox/; the benchmarks
# drive the sandbox and are a development tool.
FROM build AS production-output
RUN rm -rf dist/sandbox dist/bench

# ---- sandbox: the gateways' test double ----------------------------------------------------------------------------
# All of dist: the sandbox reads its configuration through config/, which uses contracts/, domain/ and gateways/
# constants; copying the whole output keeps that chain complete without listing it. It needs no dependency of its own
# (express, zod and pino are the API's too).
FROM node:20-bookworm-slim AS sandbox
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 12111
CMD ["node", "dist/sandbox/main.js"]

# ---- runtime: the api, worker and migrate commands -----------------------------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=production-output /app/dist ./dist
# The migration runner reads the SQL files from db/migrations next to package.json.
COPY db/migrations ./db/migrations
USER node
EXPOSE 3000
# Overridden per service in docker-compose.yml: dist/worker/main.js, dist/db/migrate-cli.js.
CMD ["node", "dist/api/main.js"]
