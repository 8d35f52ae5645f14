# syntax=docker/dockerfile:1
# One image with the three binaries: billing-service, entitlement-service, caixa-migrate.
# The build caches the registry and the target folder in BuildKit cache mounts, so a
# source change rebuilds only the workspace (and `vendor/`'s patched crates build as
# they are: a dependency-layer tool that stubs out local crates would stub those too);
# the runtime is distroless (no shell, no package manager), non-root, and needs a
# writable path only if the embedded SQLite default is used.
#   docker build -t caixa .
#   docker run --rm -e DATABASE_URL=postgres://... caixa            # billing-service
#   docker run --rm caixa /usr/local/bin/entitlement-service
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p billing-service -p entitlement-service -p caixa-migrations \
    && mkdir /out \
    && cp target/release/billing-service target/release/entitlement-service target/release/caixa-migrate /out/

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/ /usr/local/bin/
USER 65532:65532
ENV BILLING_GRPC_ADDR=0.0.0.0:50051 \
    BILLING_HTTP_ADDR=0.0.0.0:8080 \
    ENTITLEMENT_GRPC_ADDR=0.0.0.0:50052 \
    LOG_FORMAT=json
EXPOSE 50051 8080 50052
ENTRYPOINT ["/usr/local/bin/billing-service"]
