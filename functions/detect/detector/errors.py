"""Typed errors: each one knows its HTTP status and a stable machine-readable code.

The handler maps any ``DetectError`` to ``{"error": {"code", "message"}}`` with ``status``;
anything else is a genuine fault (500, no traceback in the body).
"""
from __future__ import annotations


class DetectError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def to_body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(DetectError):
    """400: the request itself is malformed (JSON, base64, missing field)."""

    status = 400
    code = "bad_request"


class NotFound(DetectError):
    status = 404
    code = "not_found"


class MethodNotAllowed(DetectError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(DetectError):
    """413: the decoded image is over the configured limit."""

    status = 413
    code = "image_too_large"


class UnsupportedMediaType(DetectError):
    """415: not an image, or an image format we do not accept."""

    status = 415
    code = "unsupported_media_type"


class UnprocessableImage(DetectError):
    """422: an image format we accept, but this file can't be used (corrupt, too small, bomb)."""

    status = 422
    code = "corrupt_image"


class ModelUnavailable(DetectError):
    """503: the model could not be loaded or failed its integrity check."""

    status = 503
    code = "model_unavailable"


class FaceModelsUnavailable(ModelUnavailable):
    """503: the face-detection models are missing or unreadable. The classifier judges faces
    (face squares), so without its face detector the service does not answer at all rather than
    silently judging whole frames."""

    code = "face_models_unavailable"
