# Bourse host + components for Railway. The build steps live in scripts/build-release.sh,
# which CI also runs (tests/tests/all/release.rs fails if this file and the script drift apart).
# tests/tests/container.rs builds this image with podman and runs it as Railway does.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
# The dashboard's front end is built with npm (bookworm: Node 18, which its Vite 6 supports).
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
COPY . .
RUN scripts/build-release.sh /dist

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app bourse
COPY --from=build --chown=bourse:bourse /dist /app
WORKDIR /app
USER bourse
ENV HOST=0.0.0.0 \
    PORT=3000 \
    BOURSE_DATA_DIR=/app/data \
    BOURSE_WATCH=off \
    BOURSE_TRUSTED_PROXIES=1 \
    LOG_FORMAT=json
EXPOSE 3000
CMD ["/app/bin/bourse", "serve"]
