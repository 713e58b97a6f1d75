# abi-stream built from source: the C++ addon is compiled in the build stage, the runtime image
# carries only the package, its production dependencies and the compiled addon.
#
#   docker build -t abi-stream .
#   docker run --rm -p 8080:8080 \
#     -e ABI_MASTER_KEY -e ABI_OPENAI_API_KEY \
#     -v /etc/abi:/etc/abi:ro -v abi-data:/var/lib/abi \
#     --cap-add IPC_LOCK --ulimit memlock=1048576:1048576 \
#     abi-stream
#
# See docs/deployment.md.

FROM node:20-bookworm AS build
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends cmake g++ ninja-build \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY CMakeLists.txt ./
COPY native ./native
COPY tsconfig.json tsconfig.build.json ./
COPY lib ./lib
COPY bin ./bin
# npm ci builds the addon (scripts/install-native.cjs → cmake-js) and compiles lib/ → dist/ (prepare).
RUN ABI_FORCE_BUILD=1 npm ci --no-audit --no-fund \
 && node -e "require('node-gyp-build')('.')" \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    ABI_KEYS_FILE=/var/lib/abi/keys.json \
    ABI_VAULT_FILE=/var/lib/abi/vault.json
WORKDIR /opt/abi
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/build/Release/abi_stream.node ./build/Release/abi_stream.node
COPY docs ./docs
RUN mkdir -p /var/lib/abi /etc/abi && chown node:node /var/lib/abi
USER node
EXPOSE 8080
# /health answers 200 while serving and 503 while draining; no credentials needed by default.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# exec form: node is PID 1's child-free process and receives SIGTERM directly for the graceful drain.
ENTRYPOINT ["node", "bin/abi.js", "serve"]
CMD ["--config", "/etc/abi/abi.config.json", "--host", "0.0.0.0", "--port", "8080"]
