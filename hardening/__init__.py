"""Hardening tools: the hostile-input corpus, the fuzzers and the soak run.

Nothing here is shipped with the Lambda function; it only drives it (in-process through
``app.lambda_handler`` or over HTTP through the local gateway) and measures what comes back.
"""
