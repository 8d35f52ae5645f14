# One image with the three binaries: billing-service, entitlement-service, caixa-migrate.
# Stages: dependencies are cooked by cargo-chef into their own layer, so a source change
# rebuilds only the workspace; the runtime is distroless (no shell, no package manager),
# non-root, and needs a writable path only if the embedded SQLite default is used.
#   docker build -t caixa .
#   docker run --rm -e DATABASE_URL=postgres://... caixa            # billing-service
#   docker run --rm caixa /usr/local/bin/entitlement-service
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.73
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json \
    -p billing-service -p entitlement-service -p caixa-migrations
COPY . .
RUN cargo build --release --locked -p billing-service -p entitlement-service -p caixa-migrations \
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
