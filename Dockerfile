# syntax=docker/dockerfile:1
# The b24-operator manager: a static Go binary on distroless, running as a non-root user.
# Build: docker build -t ghcr.io/b24ops/b24-operator:<version> .
# The release images are built by `make image` (no container engine, empty base); this file is
# for people who build with Docker. Both bases are pinned by digest: update tag and digest
# together.

FROM --platform=$BUILDPLATFORM golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1 AS builder
ARG TARGETOS=linux
ARG TARGETARCH
WORKDIR /src

# Modules first, so source changes reuse the cached download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -buildid=" -o /out/manager ./cmd/manager

FROM gcr.io/distroless/static:nonroot@sha256:f7f8f729987ad0fdf6b05eeeae94b26e6a0f613bdf46feea7fc40f7bd72953e6
LABEL org.opencontainers.image.source="https://github.com/b24ops/b24-operator" \
      org.opencontainers.image.description="Kubernetes operator for Bitrix24 chat bots and Metabot scheduled jobs"
WORKDIR /
COPY --from=builder /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
