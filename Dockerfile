# syntax=docker/dockerfile:1
# One image with both daemons and the load generator:
#   docker build -t predlog --build-arg VERSION=$(git describe --always --dirty) .
#   docker run predlog ingester --help
#   docker run predlog aggregator --help
#   docker run predlog loadgen --help      # simulated model servers (compose profile demo)

FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w -X main.version=${VERSION}" -o /out/ ./cmd/ingester ./cmd/aggregator ./cmd/loadgen

# Static binaries (CGO off) on distroless: CA certificates, tzdata, a nonroot
# user, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ingester /out/aggregator /out/loadgen /usr/local/bin/
COPY configs/ingester.yaml configs/aggregator.yaml /etc/predlog/
USER nonroot:nonroot
# 9464 ingester ops, 9465 aggregator API + ops.
EXPOSE 9464 9465
ENTRYPOINT []
CMD ["ingester", "--config", "/etc/predlog/ingester.yaml"]
