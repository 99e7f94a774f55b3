# One image for the API (`timeline serve`) and the projection worker (`timeline project`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY timeline ./timeline
COPY projections ./projections
COPY api ./api
COPY entrypoints ./entrypoints
RUN pip install . \
    && useradd --create-home --uid 10001 timeline

# Never run as root; the working directory is where the SQLite default would live.
USER timeline
WORKDIR /home/timeline
# The tree-head signing key lives here (TIMELINE_KEY_DIR): a volume, so it outlives the container.
RUN mkdir -p /home/timeline/keys
EXPOSE 8000
CMD ["timeline", "serve", "--host", "0.0.0.0", "--port", "8000"]
