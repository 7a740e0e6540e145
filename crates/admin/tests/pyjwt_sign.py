"""PyJWT side of the CLI interop tests (crates/admin/tests/cli.rs).

The embed secret comes from the environment variable EMBED_SECRET, never
from the command line.

    pyjwt_sign.py CLIENT_ID SUB NOW TTL
        prints an HS256 embed token signed by PyJWT: header kid=CLIENT_ID,
        claims sub, jti (uuid4 hex), iat=NOW, exp=NOW+TTL,
        account_type "viewer", teams ["sales"].

    pyjwt_sign.py verify CLIENT_ID TOKEN NOW
        verifies TOKEN with PyJWT (HS256 only, exp checked with 60 s leeway,
        against the real clock: PyJWT has no notion of NOW, which is only
        checked to be close to it) and the header's kid against CLIENT_ID,
        then prints the decoded claims as one JSON line.
"""

import json
import os
import sys
import time
import uuid

import jwt


def secret() -> str:
    value = os.environ.get("EMBED_SECRET", "")
    if not value:
        sys.exit("EMBED_SECRET is not set")
    return value


def sign(cid: str, sub: str, now: int, ttl: int) -> None:
    payload = {
        "sub": sub,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl,
        "account_type": "viewer",
        "teams": ["sales"],
    }
    token = jwt.encode(payload, secret(), algorithm="HS256", headers={"kid": cid})
    print(token)


def verify(cid: str, token: str, now: int) -> None:
    if abs(int(time.time()) - now) > 300:
        sys.exit("PyJWT verifies against the real clock: NOW must be the current time")
    header = jwt.get_unverified_header(token)
    if header.get("kid") != cid:
        sys.exit(f"kid {header.get('kid')!r} is not {cid!r}")
    claims = jwt.decode(
        token,
        secret(),
        algorithms=["HS256"],
        options={"verify_exp": True},
        leeway=60,
    )
    print(json.dumps(claims, sort_keys=True))


def main(argv: list) -> None:
    if len(argv) == 4 and argv[0] == "verify":
        verify(argv[1], argv[2], int(argv[3]))
    elif len(argv) == 4:
        sign(argv[0], argv[1], int(argv[2]), int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
