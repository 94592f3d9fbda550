# canary-gate: a static (musl) binary on an empty image with CA certificates only.
# Build stage: Alpine's Rust targets musl natively, so the binary needs no libc at run time.
FROM rust:1.95-alpine3.22 AS build
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
COPY benches ./benches
COPY sim ./sim
COPY fixtures/k8s ./fixtures/k8s
RUN cargo build --release --locked --bin canary-gate \
    && cp target/release/canary-gate /canary-gate

# Final stage: the binary and CA certificates. It runs as root (GitHub mounts the workspace
# owned by the runner) and is PID 1, so it installs its own signal handlers.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /canary-gate /usr/local/bin/canary-gate
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/usr/local/bin/canary-gate"]
