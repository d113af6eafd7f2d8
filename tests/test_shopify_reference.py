"""Differential tests: Attune's verifiers agree with Shopify's own Python library (ShopifyAPI)."""

from __future__ import annotations

import time

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.shopify import verify as v
from app.shopify.reference import LibraryTokenError, library_decode_session_token, library_query_hmac

_key = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="[]"), min_size=1, max_size=12
).filter(lambda k: k not in ("hmac", "signature"))
_value = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    scalars=st.dictionaries(_key, _value, max_size=6),
    arrays=st.dictionaries(
        _key.map(lambda k: k + "[]"), st.lists(_value, min_size=1, max_size=3), max_size=2
    ),
    secret=st.text(min_size=1, max_size=40),
)
def test_query_hmac_matches_shopify_python_library(scalars, arrays, secret):
    arrays = {k: vals for k, vals in arrays.items() if k[:-2] not in scalars}
    pairs = list(scalars.items()) + [(k, item) for k, vals in arrays.items() for item in vals]
    assert v.admin_query_hmac(pairs, secret) == library_query_hmac({**scalars, **arrays}, secret)


def _claims(shop: str = "alpha.myshopify.com", **over):
    now = int(time.time())
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": "key",
        "sub": "7",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": "j",
        "sid": "s",
    }
    claims.update(over)
    return claims


@pytest.mark.parametrize(
    "overrides, secret, accepted",
    [
        ({}, "s" * 32, True),
        ({"aud": "other"}, "s" * 32, False),
        ({"exp": -60}, "s" * 32, False),
        ({"dest": "https://beta.myshopify.com"}, "s" * 32, False),
        ({}, "wrong-secret-wrong-secret-wrong!!", False),
    ],
)
def test_session_token_verdicts_match_shopify_python_library(overrides, secret, accepted):
    if "exp" in overrides:  # relative to now: claims are built when the test runs, not when it is collected
        overrides = dict(overrides, exp=int(time.time()) + overrides["exp"])
    token = jwt.encode(_claims(**overrides), "s" * 32, algorithm="HS256")
    try:
        library_decode_session_token(token, "key", secret)
        library_ok = True
    except LibraryTokenError:
        library_ok = False
    try:
        v.decode_session_token(token, api_key="key", secrets=[secret])
        ours_ok = True
    except v.VerificationError:
        ours_ok = False
    assert library_ok is ours_ok is accepted
