"""PyJWT side of the end-to-end tests (tests/src/lib.rs): a host app in
another language signing an embed token.

The embed secret comes from the environment variable EMBED_SECRET, never
from the command line. With EMBED_ALG=ES256 or EdDSA, EMBED_SECRET is the
host app's private key (PEM) of an asymmetric credential instead.

    pyjwt_embed.py CLIENT_ID SUB [EXTRA_CLAIMS_JSON]
        prints an HS256 (or EMBED_ALG) token: header kid=CLIENT_ID, claims
        sub, jti (uuid4 hex), iat=now, exp=now+600, plus the extra claims (a
        JSON object).

    pyjwt_embed.py --keygen ES256|EdDSA
        prints {"private_pem": ..., "public_jwk": {...}}: a host app's new key
        pair, the public half exported as a JWK by PyJWT itself.

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


def token(client_id: str, secret: str, sub: str, extra: dict, alg: str = "HS256") -> str:
    now = int(time.time())
    payload = {"sub": sub, "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600}
    payload.update(extra)
    return jwt.encode(payload, secret, algorithm=alg, headers={"kid": client_id})


def keygen(alg: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm

    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        public_jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        public_jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        sys.exit("--keygen takes ES256 or EdDSA")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    print(json.dumps({"private_pem": pem, "public_jwk": public_jwk}))


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
    if len(argv) == 2 and argv[0] == "--keygen":
        keygen(argv[1])
        return
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    secret = os.environ.get("EMBED_SECRET", "")
    if not secret:
        sys.exit("EMBED_SECRET is not set")
    extra = json.loads(argv[2]) if len(argv) == 3 else {}
    print(token(argv[0], secret, argv[1], extra, os.environ.get("EMBED_ALG", "HS256")))


if __name__ == "__main__":
    main(sys.argv[1:])
