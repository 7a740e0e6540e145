"""PyJWT side of the end-to-end tests (tests/src/lib.rs): a host app in
another language signing an embed token.

The embed secret comes from the environment variable EMBED_SECRET, never
from the command line.

    pyjwt_embed.py CLIENT_ID SUB [EXTRA_CLAIMS_JSON]
        prints an HS256 token: header kid=CLIENT_ID, claims sub, jti (uuid4
        hex), iat=now, exp=now+600, plus the extra claims (a JSON object).

    pyjwt_embed.py --batch
        reads JSON lines {"client_id", "secret", "sub", "count"} from stdin
        and prints, for each line in order, `count` such tokens (each with
        its own jti), one per line: many tokens for one interpreter start.
"""

import json
import os
import sys
import time
import uuid

import jwt


def token(client_id: str, secret: str, sub: str, extra: dict) -> str:
    now = int(time.time())
    payload = {"sub": sub, "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600}
    payload.update(extra)
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": client_id})


def batch() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        for _ in range(int(spec["count"])):
            print(token(spec["client_id"], spec["secret"], spec["sub"], {}))


def main(argv: list) -> None:
    if argv == ["--batch"]:
        batch()
        return
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    secret = os.environ.get("EMBED_SECRET", "")
    if not secret:
        sys.exit("EMBED_SECRET is not set")
    extra = json.loads(argv[2]) if len(argv) == 3 else {}
    print(token(argv[0], secret, argv[1], extra))


if __name__ == "__main__":
    main(sys.argv[1:])
