"""detector.http.b64decode (SIMD fast path, added for the 12 MP latency target of `make bench`)
answers exactly what ``base64.b64decode`` answers, for valid and invalid input, in both modes."""
from __future__ import annotations

import base64
import binascii
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from detector import http

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _stdlib(data, validate):
    try:
        return base64.b64decode(data, validate=validate)
    except (binascii.Error, ValueError) as exc:
        return type(exc)


def _ours(data, validate):
    try:
        return http.b64decode(data, validate=validate)
    except (binascii.Error, ValueError) as exc:
        return type(exc)


def test_the_simd_decoder_is_installed():
    # the layer and the dev venv both pin pybase64: without it the fast path silently falls back
    assert http._simd_b64decode is not None


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=ALPHABET + "=-_ \n\t.é\x00", max_size=40), st.booleans())
def test_same_answer_as_the_stdlib_on_any_text(text, validate):
    assert _ours(text, validate) == _stdlib(text, validate)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.booleans())
def test_round_trip_of_real_payloads(raw, validate):
    encoded = base64.b64encode(raw).decode("ascii")
    assert http.b64decode(encoded, validate=validate) == raw
    assert http.b64decode(encoded.encode("ascii"), validate=validate) == raw


def test_a_large_upload_decodes_identically():
    raw = os.urandom(3_000_000)
    encoded = base64.b64encode(raw).decode("ascii")
    assert http.b64decode(encoded, validate=False) == raw
    # a line-wrapped (MIME) body is not strict base64: the stdlib's lenient decode still applies
    wrapped = base64.encodebytes(raw[:50_000]).decode("ascii")
    assert http.b64decode(wrapped, validate=False) == raw[:50_000]
