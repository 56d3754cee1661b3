#!/bin/sh
# Entrypoint of the local python3.11 Lambda image. SAM replaces it with its emulator
# (/var/rapid/aws-lambda-rie), which starts /var/runtime/bootstrap; this is only for a direct
# `docker run` under some other Runtime API (AWS_LAMBDA_RUNTIME_API set).
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    echo "This is a Lambda base image for 'sam local invoke' / 'sam local start-api' (--skip-pull-image)." >&2
    echo "Run under a Lambda Runtime API (set AWS_LAMBDA_RUNTIME_API), e.g. via SAM CLI." >&2
    exit 64
fi
if [ $# -ge 1 ]; then export _HANDLER="$1"; fi
exec /var/runtime/bootstrap
