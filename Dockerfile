# distr-server in a container: SQLite + local files in the /var/lib/distr
# volume by default, or PostgreSQL + S3 through the usual DISTR_* / DATABASE_URL
# environment (see the README's Configuration and Scale-out sections).
#
#   docker build -t distr .
#   docker run -p 5000:5000 -v distr-data:/var/lib/distr \
#       -e DISTR_BOOTSTRAP_ORG=acme distr
#
# The first start prints the bootstrap token once (`docker logs`). The admin
# command line is the same binary:
#   docker exec <container> distr-server admin org list

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p distr-server \
    && install -D -m 0755 target/release/distr-server /out/distr-server

FROM debian:bookworm-slim
# curl for the health check; ca-certificates for HTTPS upstreams and S3.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/distr --shell /usr/sbin/nologin distr \
    && install -d -o distr -g distr -m 0750 /var/lib/distr
COPY --from=build /out/distr-server /usr/local/bin/distr-server
USER 10001:10001
WORKDIR /var/lib/distr
ENV DISTR_LISTEN=0.0.0.0:5000 \
    DISTR_DATA_DIR=/var/lib/distr
VOLUME ["/var/lib/distr"]
EXPOSE 5000
# Ready: the database and the blob store answer (GET /readyz, 200 or 503).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:5000/readyz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/distr-server"]
