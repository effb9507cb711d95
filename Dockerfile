# Bulwark in a container: a static binary on Debian with the interpreters
# the default command allowlist names (python3, node, bash, sh and the
# core utilities), run as a user that is not root, on a read-only root file
# system. deploy/README.md ("In a container") lists the runtime options the
# sandbox needs and why; deploy/compose.yaml runs it with PostgreSQL.
#
#   docker build -t bulwark .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static: no C library to match at run time. go generate builds the
# sandbox's init on its own, which the binary embeds (sandbox/initbin).
RUN go generate ./sandbox && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/bulwark ./cmd/bulwark

FROM debian:bookworm-slim
# python3 and nodejs for run_code; bash, coreutils, findutils, grep, sed,
# mawk, diffutils, tar, gzip and debianutils come with the base image;
# file is the one more that the default allowlist names; ca-certificates
# for TLS to model providers and allowed domains.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 nodejs file ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 bulwark \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/bulwark --shell /usr/sbin/nologin bulwark \
 && install -d -o bulwark -g bulwark -m 0700 /var/lib/bulwark
COPY --from=build /out/bulwark /usr/local/bin/bulwark

USER 10001:10001
ENV BULWARK_DATA=/var/lib/bulwark
VOLUME /var/lib/bulwark
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/bulwark"]
# Plain HTTP on the container's network only: publish the port on the
# host's loopback behind a TLS proxy, or give --tls-cert and --tls-key.
CMD ["serve", "--addr", "0.0.0.0:8080", "--insecure-http"]
