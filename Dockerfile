# The Serinus controller image: `serinus run` (see charts/serinus for how it is deployed).
# Build: docker build -t <registry>/serinus:0.1.0 .
#
# Two stages: wheels are built with pip in the first, so the runtime stage has no build cache and
# no source tree, only the installed package, git and ssh (revert commits are pushed with git).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
COPY analysis ./analysis
COPY sandbox ./sandbox
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ARG UID=10001
ARG GID=10001
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid "${GID}" serinus \
    && useradd --uid "${UID}" --gid "${GID}" --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin serinus \
    && mkdir -p /var/cache/serinus/git \
    && chown -R "${UID}:${GID}" /var/cache/serinus
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# Numeric, so Kubernetes can verify runAsNonRoot without resolving the name.
USER 10001:10001
WORKDIR /var/cache/serinus
EXPOSE 8080
ENTRYPOINT ["serinus"]
CMD ["run"]
