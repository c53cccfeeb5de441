# statehouse from source: a static binary on an empty image.
#   docker build -t statehouse .
# Without a registry, build the binary on the host and use
# Dockerfile.prebuilt instead (that is what CI does).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/statehouse ./cmd/statehouse

FROM scratch
COPY --from=build /out/statehouse /statehouse
WORKDIR /data
ENV STATEHOUSE_DATA_DIR=/data
EXPOSE 6379 16379 7946 7946/udp
ENTRYPOINT ["/statehouse"]
