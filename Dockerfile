# Builds the gatehouse binary and the production plugins (whmcs, ipb, oidc)
# only: the test fixtures (one of them deliberately broken) stay out.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The default members: the server and the production plugins (no test fixtures).
RUN cargo build --release

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
COPY --from=build /src/target/release/libgatehouse_whmcs.so /src/target/release/libgatehouse_ipb.so /src/target/release/libgatehouse_oidc.so /usr/lib/gatehouse/plugins/
RUN useradd --system --home /var/lib/gatehouse gatehouse && mkdir -p /var/lib/gatehouse && chown gatehouse /var/lib/gatehouse
USER gatehouse
WORKDIR /var/lib/gatehouse
EXPOSE 8080
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
