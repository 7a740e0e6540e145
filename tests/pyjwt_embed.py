"""PyJWT side of the end-to-end tests (tests/src/lib.rs): a host app in
another language signing an embed token.

The embed secret comes from the environment variable EMBED_SECRET, never
from the command line.

    pyjwt_embed.py CLIENT_ID SUB [EXTRA_CLAIMS_JSON]
        prints an HS256 token: header kid=CLIENT_ID, claims sub, jti (uuid4
        hex), iat=now, exp=now+600, plus the extra claims (a JSON object).
"""

import json
import os
import sys
import time
import uuid

import jwt


def main(argv: list) -> None:
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    secret = os.environ.get("EMBED_SECRET", "")
    if not secret:
        sys.exit("EMBED_SECRET is not set")
    now = int(time.time())
    payload = {"sub": argv[1], "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600}
    if len(argv) == 3:
        payload.update(json.loads(argv[2]))
    print(jwt.encode(payload, secret, algorithm="HS256", headers={"kid": argv[0]}))


if __name__ == "__main__":
    main(sys.argv[1:])
