# syntax=docker/dockerfile:1.7
# Build: docker build -t invigilator .   (one image for the web service, the worker and jobs)

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and build artefacts between builds; the binary is copied out
# because the target directory is not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin invigilator \
 && cp target/release/invigilator /invigilator

# distroless/cc: glibc and CA certificates, no shell, runs as uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /invigilator /usr/local/bin/invigilator
USER nonroot:nonroot
ENV APP_ENV=production \
    LOG_FORMAT=json \
    PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/invigilator"]
CMD ["serve"]
