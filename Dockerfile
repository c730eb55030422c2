# kafka-feeder container image.
#
# Both base images are build arguments, so the same file builds from locally
# made bases where no registry is reachable (see scripts/container-smoke.sh):
#
#   docker build -t kafka-feeder:0.1.0 --build-arg VERSION=0.1.0 .
#   docker build --build-arg RUST_IMAGE=my-rust:local \
#                --build-arg RUNTIME_IMAGE=my-runtime:local .
#
# The builder and the runtime must share a glibc: both defaults are Debian 12
# (bookworm). The runtime only needs glibc and libgcc_s: the shared libraries
# the binary links against besides those (libssl3, libcrypto3, libz) are copied
# from the builder, so distroless/cc and debian:bookworm-slim both work.
#
# Behind a TLS-intercepting proxy, pass its CA bundle as an optional build
# secret; it is mounted for the fetch steps only and never stored in a layer:
#
#   DOCKER_BUILDKIT=1 docker build --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt .
#
# No `# syntax=` line on purpose: that would pull a frontend image; the
# Dockerfile frontend built into Docker >= 20.10 supports everything used here.

ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# --------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG DEBIAN_FRONTEND=noninteractive

# Build dependencies of rdkafka (bundled librdkafka with ssl + zstd). Installed
# only when missing, so a prepared offline base image needs no network here.
# hadolint ignore=DL3008
RUN --mount=type=secret,id=ca_bundle \
    set --; \
    for p in gcc g++ make perl pkg-config libssl-dev zlib1g-dev ca-certificates; do \
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || set -- "$@" "$p"; \
    done; \
    if [ "$#" -gt 0 ]; then \
        if [ -s /run/secrets/ca_bundle ]; then \
            echo 'Acquire::https::CAInfo "/run/secrets/ca_bundle";' > /etc/apt/apt.conf.d/99build-ca; \
        fi; \
        apt-get update \
        && apt-get install -y --no-install-recommends "$@" \
        && rm -rf /var/lib/apt/lists/* /etc/apt/apt.conf.d/99build-ca; \
    fi

WORKDIR /src

# Release profile knobs for the image (the same env is set for both cargo
# steps, so the dependency layer below stays valid for the final build).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_TERM_COLOR=never \
    CARGO_NET_RETRY=5

# 1) Dependencies only: build the dependency graph against stub sources so this
#    layer is reused until Cargo.toml / Cargo.lock change. If the stub build
#    cannot work (e.g. a manifest target the stubs do not cover) the final
#    build below simply compiles everything.
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=secret,id=ca_bundle \
    --mount=type=cache,target=/usr/local/cargo/registry \
    if [ -s /run/secrets/ca_bundle ]; then \
        export CARGO_HTTP_CAINFO=/run/secrets/ca_bundle SSL_CERT_FILE=/run/secrets/ca_bundle; \
    fi; \
    mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && : > src/lib.rs \
    && { cargo build --release --locked \
         || echo "warning: dependency pre-build failed; the full build will compile dependencies"; } \
    && rm -rf src \
              target/release/kafka-feeder target/release/kafka-feeder.d \
              target/release/deps/kafka_feeder-* target/release/deps/libkafka_feeder-* \
              target/release/.fingerprint/kafka-feeder-*

# 2) The real sources.
COPY . .
RUN --mount=type=secret,id=ca_bundle \
    --mount=type=cache,target=/usr/local/cargo/registry \
    if [ -s /run/secrets/ca_bundle ]; then \
        export CARGO_HTTP_CAINFO=/run/secrets/ca_bundle SSL_CERT_FILE=/run/secrets/ca_bundle; \
    fi; \
    cargo build --release --locked \
    && install -D -m 0755 target/release/kafka-feeder /out/usr/local/bin/kafka-feeder \
    && /out/usr/local/bin/kafka-feeder --version

# Shared libraries the runtime base may lack: everything the binary links to
# except the glibc / libgcc_s family, resolved to their real files.
RUN ldd /out/usr/local/bin/kafka-feeder \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' \
    | { grep -Ev '/(libc|libm|libdl|librt|libpthread|libgcc_s|ld-linux[^/]*)\.so' || true; } \
    | while read -r lib; do \
        real="$(readlink -f "$lib")"; \
        dir="/out$(dirname "$real")"; \
        mkdir -p "$dir"; \
        cp "$real" "$dir/"; \
        if [ "$(basename "$real")" != "$(basename "$lib")" ]; then \
          ln -sf "$(basename "$real")" "$dir/$(basename "$lib")"; \
        fi; \
      done \
    && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt \
    && find /out ! -type d | sort

# --------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kafka-feeder" \
      org.opencontainers.image.description="Keeps a Kafka topic fed with records sampled from a CSV dataset" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /out/ /

# Numeric non-root user (the distroless "nonroot" uid), so Kubernetes'
# runAsNonRoot can verify it without a passwd entry. Nothing is written at
# runtime: the image runs with a read-only root filesystem.
USER 65532:65532
ENV HTTP_PORT=8080 \
    LOG_FORMAT=text
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/kafka-feeder"]
