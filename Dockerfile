# ganart app image: for a Docker Space or any container host.
FROM python:3.11-slim

# Spaces run containers as uid 1000; never phone home; serve on all interfaces
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH

RUN useradd --create-home --uid 1000 user
USER 1000
WORKDIR /home/user/app

# CPU-only torch keeps the image small; --build-arg TORCH_INDEX= (empty) takes PyPI's build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY --chown=user requirements.txt .
RUN if [ -n "$TORCH_INDEX" ]; then pip install --user --index-url "$TORCH_INDEX" torch==2.13.0; fi \
    && pip install --user -r requirements.txt

COPY --chown=user . .

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["python", "app.py"]
