# jetrun worker image: the worker and submit binaries, static, on distroless.
#
#   docker build -t jetrun .
#   docker run --rm jetrun --help
#
# docker-compose.yml builds it for the `worker` service. The image also
# carries `submit`: `docker run --rm --entrypoint submit jetrun --help`.

# ---- build: static binaries, no cgo ----------------------------------------
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build

WORKDIR /src

# Modules first, so that editing code does not re-download them.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

# Set by BuildKit for `docker buildx build --platform ...`; empty with the
# classic builder, which then builds for the build host.
ARG TARGETOS
ARG TARGETARCH
# CGO_ENABLED=0: no libc, so the binary runs on distroless/static (or
# scratch). -trimpath and no VCS stamp (.git is not in the build context)
# make the build reproducible; -s -w drop the symbol tables.
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="-s -w" \
      -o /out/ ./cmd/worker ./cmd/submit

# ---- runtime ----------------------------------------------------------------
# distroless/static: no shell, no package manager; CA certificates (for TLS
# to NATS), /etc/passwd with the `nonroot` user, and tzdata.
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/worker /out/submit /usr/local/bin/

# uid/gid 65532 (`nonroot`). The worker drives Docker through the host's
# socket, which is root:docker with mode 660: give the container the
# socket's group id (docker-compose.yml: group_add: DOCKER_GID) rather than
# running as root. Anyone who can use that socket is root on the host all
# the same (docs/deployment.md, "The Docker socket"); what non-root buys is
# a process that cannot change its own image files or read other users'.
USER 65532:65532

# /metrics, /healthz and /readyz when started with --metrics-addr :9090.
EXPOSE 9090

# SIGTERM (docker stop) drains: no new tasks, running ones get the drain
# timeout, the rest are handed back to the queue.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/worker"]

LABEL org.opencontainers.image.title="jetrun-worker" \
      org.opencontainers.image.description="jetrun worker: runs tasks from NATS JetStream in Docker containers"
