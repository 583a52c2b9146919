"""Access tokens: the JWTs the server issues, and every forged or broken token it refuses.

The attack matrix builds tokens by hand (``jwt.encode`` or raw base64url) and sends each
to ``GET /users/me``. A hand-built token with untouched claims is accepted (see
``test_hand_built_token_with_valid_claims_is_accepted``), so each refusal is caused by
the one thing the attack changed. Every refused token gets the same answer; the reason
the log gives shows which check refused it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from labvault.app import create_app
from labvault.auth.models import User
from labvault.auth.service import start_session
from labvault.auth.tokens import AUDIENCE, REQUIRED_CLAIMS
from labvault.db import begin_write
from labvault.errors import ConfigError
from labvault.models import metadata
from labvault.testing import TEST_SECRET_KEY
from labvault.web.access import INVALID_TOKEN_MESSAGE
from labvault.web.session import get_session

from tests.conftest import server_url

DEFAULT_ISSUER = "labvault"
DROP = object()  # a claim value that removes the claim


@dataclass(frozen=True)
class KeyPair:
    private_key: Any  # parsed once: PyJWT would parse a PEM for every token (slow for RSA)
    public_pem: bytes
    private_file: str
    public_file: str


def _write_pair(folder: Path, name: str, private_key: Any) -> KeyPair:
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / f"{name}-private.pem").write_bytes(private_pem)
    (folder / f"{name}-public.pem").write_bytes(public_pem)
    return KeyPair(
        private_key,
        public_pem,
        str(folder / f"{name}-private.pem"),
        str(folder / f"{name}-public.pem"),
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """The server's RSA and EC key pairs, and an attacker's pairs of each kind."""
    folder = tmp_path_factory.mktemp("jwt-keys")
    return {
        "RS256": _write_pair(folder, "rsa", rsa.generate_private_key(65537, 2048)),
        "ES256": _write_pair(folder, "ec", ec.generate_private_key(ec.SECP256R1())),
        "attacker-RS256": _write_pair(folder, "rsa2", rsa.generate_private_key(65537, 2048)),
        "attacker-ES256": _write_pair(folder, "ec2", ec.generate_private_key(ec.SECP256R1())),
    }


def settings_for(algorithm: str, keys: dict[str, KeyPair]) -> dict[str, Any]:
    if algorithm == "HS256":
        return {}
    return {
        "JWT_ALGORITHM": algorithm,
        "JWT_PRIVATE_KEY_FILE": keys[algorithm].private_file,
        "JWT_PUBLIC_KEY_FILE": keys[algorithm].public_file,
    }


DATABASES = ["sqlite", "mariadb", "postgresql"]


@pytest.fixture(scope="module")
def app_for(
    tmp_path_factory: pytest.TempPathFactory,
    _server_databases: dict[str, Any],
    keys: dict[str, KeyPair],
) -> Iterator[Callable[..., Any]]:
    """``app_for(database, algorithm)``: one app per database and algorithm.

    Building an app is most of the time of a small test, and the attack matrix has
    hundreds; its tests only add users, so they share these apps.
    """
    apps: dict[tuple[str, str], Any] = {}

    def get(database: str, algorithm: str = "HS256") -> Any:
        if (database, algorithm) not in apps:
            folder = tmp_path_factory.mktemp(f"{database}-{algorithm}")
            if database == "sqlite":
                url = f"sqlite:///{folder / 'labvault.db'}"
            else:
                url = server_url(database, _server_databases)
            app = create_app(
                {
                    "IDENTIFIER_PREFIX": "test",
                    "SECRET_KEY": TEST_SECRET_KEY,
                    "INSTANCE_PATH": str(folder / "instance"),
                    "DATABASE_URL": url,
                    **settings_for(algorithm, keys),
                }
            )
            metadata.create_all(app.extensions["labvault"].database.engine)
            apps[database, algorithm] = app
        return apps[database, algorithm]

    yield get
    for app in apps.values():
        app.extensions["labvault"].database.dispose()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def claims(user_id: int, /, **changes: Any) -> dict[str, Any]:
    """Claims as the server would issue them for ``user_id``, with ``changes`` applied."""
    now = int(time.time())
    payload = {
        "sub": str(user_id),
        "sid": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "iss": DEFAULT_ISSUER,
        "aud": AUDIENCE,
    }
    payload.update(changes)
    return {name: value for name, value in payload.items() if value is not DROP}


def unsigned(payload: dict[str, Any], alg: str) -> str:
    return f"{b64url_json({'alg': alg, 'typ': 'JWT'})}.{b64url_json(payload)}."


def hs256_by_hand(payload: dict[str, Any], key: bytes) -> str:
    """HS256 computed here, since PyJWT refuses a PEM key as an HMAC secret."""
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT'})}.{b64url_json(payload)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


def call_me(client: Any, authorization: str) -> Any:
    return client.get("/users/me", headers={"Authorization": authorization})


@dataclass
class Forge:
    """What an attack may use: the victim, another (admin) user, keys, a real token."""

    app: Any
    user_id: int
    admin_id: int
    issued: str  # a genuine access token of the victim
    keys: dict[str, KeyPair]

    def refresh_token(self) -> str:
        with self.app.app_context():
            session = get_session()
            user = session.get(User, self.user_id)
            assert user is not None
            state = self.app.extensions["labvault"]
            return start_session(session, state.signer, user, dt.timedelta(hours=1)).refresh_token


def _payload_tampered(f: Forge) -> str:
    header, payload, signature = f.issued.split(".")
    changed = json.loads(b64url_decode(payload))
    changed["sub"] = str(f.admin_id)
    return bearer(f"{header}.{b64url_json(changed)}.{signature}")


def _signature_flipped(f: Forge) -> str:
    header, payload, signature = f.issued.split(".")
    # the first character carries whole bits of the signature (the last may be padding)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return bearer(f"{header}.{payload}.{flipped}")


def _alg_none_keeping_signature(f: Forge) -> str:
    _, payload, signature = f.issued.split(".")
    return bearer(f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}")


def _as_arabic_indic_digits(number: int) -> str:
    return str(number).translate({ord("0") + i: 0x0660 + i for i in range(10)})


@dataclass(frozen=True)
class Attack:
    build: Callable[[Forge], str]  # -> the whole Authorization header value
    message: str  # part of the reason logged (invalid_token) or of the 401 message
    error: str = "invalid_token"  # RFC 6750 error code in WWW-Authenticate


def _missing(claim: str) -> Attack:
    return Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, **{claim: DROP}), TEST_SECRET_KEY)),
        f"lacks the '{claim}' claim",
    )


def _subject(sub: Callable[[Forge], Any]) -> Attack:
    return Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, sub=sub(f)), TEST_SECRET_KEY)),
        "token subject is not a user",
    )


SCHEME_MESSAGE = "must be 'Bearer <token>'"

HS256_ATTACKS: dict[str, Attack] = {
    "alg-none": Attack(lambda f: bearer(unsigned(claims(f.user_id), "none")), "algorithm"),
    "alg-None": Attack(lambda f: bearer(unsigned(claims(f.user_id), "None")), "algorithm"),
    "alg-NONE": Attack(lambda f: bearer(unsigned(claims(f.user_id), "NONE")), "algorithm"),
    "alg-none-signature-kept": Attack(_alg_none_keeping_signature, "algorithm"),
    "wrong-hmac-key": Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id), "another-server-secret-key-0123456789")),
        "signature is invalid",
    ),
    "payload-tampered": Attack(_payload_tampered, "signature is invalid"),
    "signature-tampered": Attack(_signature_flipped, "signature is invalid"),
    "signature-stripped": Attack(
        lambda f: bearer(f.issued.rsplit(".", 1)[0] + "."), "signature is invalid"
    ),
    "signature-segment-missing": Attack(
        lambda f: bearer(f.issued.rsplit(".", 1)[0]), "token is malformed"
    ),
    "expired": Attack(
        lambda f: bearer(
            jwt.encode(
                claims(
                    f.user_id,
                    iat=int(time.time()) - 900,
                    nbf=int(time.time()) - 900,
                    exp=int(time.time()) - 60,
                ),
                TEST_SECRET_KEY,
            )
        ),
        "token has expired",
    ),
    "nbf-in-the-future": Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, nbf=int(time.time()) + 60), TEST_SECRET_KEY)),
        "token is not valid yet",
    ),
    "iat-in-the-future": Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, iat=int(time.time()) + 60), TEST_SECRET_KEY)),
        "token is not valid yet",
    ),
    "iat-not-a-number": Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, iat="yesterday"), TEST_SECRET_KEY)),
        "(iat) must be an integer",
    ),
    "wrong-issuer": Attack(
        lambda f: bearer(
            jwt.encode(claims(f.user_id, iss="https://evil.example.com"), TEST_SECRET_KEY)
        ),
        "not issued by this server",
    ),
    "wrong-audience": Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, aud="another-api"), TEST_SECRET_KEY)),
        "not issued for this API",
    ),
    "audience-list": Attack(
        lambda f: bearer(
            jwt.encode(claims(f.user_id, aud=[AUDIENCE, "another-api"]), TEST_SECRET_KEY)
        ),
        "not issued for this API",
    ),
    **{f"missing-{claim}": _missing(claim) for claim in REQUIRED_CLAIMS},
    "sub-a-name": _subject(lambda f: "alice"),
    "sub-empty": _subject(lambda f: ""),
    "sub-negative": _subject(lambda f: "-1"),
    "sub-decimal-point": _subject(lambda f: f"{f.user_id}.0"),
    "sub-leading-zero": _subject(lambda f: f"0{f.user_id}"),
    "sub-arabic-indic-digits": _subject(lambda f: _as_arabic_indic_digits(f.user_id)),
    "sub-superscript-digit": _subject(lambda f: "\u00b2"),
    "sub-beyond-32-bit": _subject(lambda f: str(2**31)),
    "sub-huge": _subject(lambda f: "9" * 30),
    "sub-a-number-not-a-string": Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, sub=f.user_id), TEST_SECRET_KEY)),
        "Subject must be a string",
    ),
    "sid-not-a-session": Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, sid="../x"), TEST_SECRET_KEY)),
        "token session is not a session",
    ),
    "sid-a-number": Attack(
        lambda f: bearer(jwt.encode(claims(f.user_id, sid=1), TEST_SECRET_KEY)),
        "token session is not a session",
    ),
    "sub-of-no-user": Attack(
        lambda f: bearer(jwt.encode(claims(f.admin_id + 1000), TEST_SECRET_KEY)),
        "the token's user does not exist",
    ),
    "unknown-critical-header": Attack(
        lambda f: bearer(
            jwt.encode(claims(f.user_id), TEST_SECRET_KEY, headers={"crit": ["x-lab"], "x-lab": 1})
        ),
        "Unsupported critical extension",
    ),
    "rs256-token": Attack(
        lambda f: bearer(
            jwt.encode(claims(f.user_id), f.keys["attacker-RS256"].private_key, algorithm="RS256")
        ),
        "algorithm is not allowed",
    ),
    "es256-token": Attack(
        lambda f: bearer(
            jwt.encode(claims(f.user_id), f.keys["attacker-ES256"].private_key, algorithm="ES256")
        ),
        "algorithm is not allowed",
    ),
    "garbage": Attack(lambda f: bearer("garbage"), "token is malformed"),
    "three-garbage-segments": Attack(lambda f: bearer("abc.def.ghi"), "token is malformed"),
    "refresh-token-as-bearer": Attack(lambda f: bearer(f.refresh_token()), "token is malformed"),
    "unknown-api-key": Attack(lambda f: bearer("lvk_" + "x" * 43), "unknown or revoked API key"),
    "empty-bearer": Attack(lambda f: "Bearer", SCHEME_MESSAGE, "invalid_request"),
    "blank-bearer": Attack(lambda f: "Bearer    ", SCHEME_MESSAGE, "invalid_request"),
    "basic-scheme": Attack(
        lambda f: "Basic " + base64.b64encode(b"user@example.org:secret").decode(),
        SCHEME_MESSAGE,
        "invalid_request",
    ),
    "token-scheme-with-real-token": Attack(
        lambda f: f"Token {f.issued}", SCHEME_MESSAGE, "invalid_request"
    ),
    "no-scheme-with-real-token": Attack(lambda f: f.issued, SCHEME_MESSAGE, "invalid_request"),
}


def _keyed_hs256(name: str) -> Callable[[Forge], str]:
    return lambda f: bearer(hs256_by_hand(claims(f.user_id), f.keys[name].public_pem))


def _attacker_key_with_embedded_jwk(f: Forge) -> str:
    attacker = f.keys["attacker-RS256"].private_key
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    token = jwt.encode(claims(f.user_id), attacker, "RS256", headers={"jwk": jwk})
    return bearer(token)


ASYMMETRIC_ATTACKS: dict[str, tuple[str, Attack]] = {
    "RS256-key-confusion-hs256-with-public-key": (
        "RS256",
        Attack(_keyed_hs256("RS256"), "algorithm is not allowed"),
    ),
    "RS256-hs256-with-secret-key": (
        "RS256",
        Attack(
            lambda f: bearer(jwt.encode(claims(f.user_id), TEST_SECRET_KEY)),
            "algorithm is not allowed",
        ),
    ),
    "RS256-alg-none": (
        "RS256",
        Attack(lambda f: bearer(unsigned(claims(f.user_id), "none")), "algorithm is not allowed"),
    ),
    "RS256-attacker-key": (
        "RS256",
        Attack(
            lambda f: bearer(
                jwt.encode(claims(f.user_id), f.keys["attacker-RS256"].private_key, "RS256")
            ),
            "signature is invalid",
        ),
    ),
    "RS256-attacker-key-embedded-jwk": (
        "RS256",
        Attack(_attacker_key_with_embedded_jwk, "signature is invalid"),
    ),
    "RS256-es256-token": (
        "RS256",
        Attack(
            lambda f: bearer(
                jwt.encode(claims(f.user_id), f.keys["attacker-ES256"].private_key, "ES256")
            ),
            "algorithm is not allowed",
        ),
    ),
    "ES256-key-confusion-hs256-with-public-key": (
        "ES256",
        Attack(_keyed_hs256("ES256"), "algorithm is not allowed"),
    ),
    "ES256-attacker-key": (
        "ES256",
        Attack(
            lambda f: bearer(
                jwt.encode(claims(f.user_id), f.keys["attacker-ES256"].private_key, "ES256")
            ),
            "signature is invalid",
        ),
    ),
    "ES256-rs256-token": (
        "ES256",
        Attack(
            lambda f: bearer(
                jwt.encode(claims(f.user_id), f.keys["attacker-RS256"].private_key, "RS256")
            ),
            "algorithm is not allowed",
        ),
    ),
}

MATRIX = [
    pytest.param("HS256", attack, id=f"HS256-{name}") for name, attack in HS256_ATTACKS.items()
] + [pytest.param(alg, attack, id=name) for name, (alg, attack) in ASYMMETRIC_ATTACKS.items()]


#: The challenge of every refused token: RFC 6750's invalid_token, and no reason.
REFUSED_CHALLENGE = (
    f'Bearer realm="labvault", error="invalid_token", error_description="{INVALID_TOKEN_MESSAGE}"'
)


def assert_refused(response: Any, message: str, error: str | None = "invalid_token") -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    body = response.json
    assert body["code"] == 401
    assert body["status"] == "Unauthorized"
    assert message in body["message"]
    assert "email" not in body
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="labvault"')
    if error is None:
        assert "error=" not in challenge
    else:
        assert f'error="{error}"' in challenge


def assert_token_refused(
    response: Any, caplog: pytest.LogCaptureFixture, reason: str, authorization: str
) -> None:
    """The one answer to a refused token; why, only in the log (without the token)."""
    assert_refused(response, INVALID_TOKEN_MESSAGE)
    assert response.json["message"] == INVALID_TOKEN_MESSAGE
    assert response.headers["WWW-Authenticate"] == REFUSED_CHALLENGE
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    refusals = [line for line in logged if line.startswith("bearer token refused")]
    assert len(refusals) == 1 and reason in refusals[0], logged
    credential = authorization.partition(" ")[2]
    assert credential not in caplog.text


def refused_call(client: Any, caplog: pytest.LogCaptureFixture, authorization: str) -> Any:
    """GET /users/me with ``authorization``; caplog holds what this call logged."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labvault"):
        return call_me(client, authorization)


@pytest.mark.parametrize(("algorithm", "attack"), MATRIX)
@pytest.mark.parametrize("database", DATABASES)
def test_forged_or_broken_token_is_refused(
    app_for, labvault_make_user, keys, caplog, database, algorithm, attack
):
    app = app_for(database, algorithm)
    user = labvault_make_user(app)
    admin = labvault_make_user(app, role="admin")
    forge = Forge(app, user.id, admin.id, user.token, keys)
    client = app.test_client()
    assert call_me(client, bearer(user.token)).status_code == 200  # the victim is real

    authorization = attack.build(forge)
    response = refused_call(client, caplog, authorization)
    if attack.error == "invalid_token":
        assert_token_refused(response, caplog, attack.message, authorization)
    else:  # not a token at all: the client is told what a request needs
        assert_refused(response, attack.message, attack.error)


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "ES256"])
def test_issued_token_works_and_carries_every_claim(
    labvault_make_app, labvault_make_user, keys, algorithm
):
    app = labvault_make_app(
        JWT_ISSUER="https://labvault.chem.example.org",
        ACCESS_TOKEN_LIFETIME=7,
        **settings_for(algorithm, keys),
    )
    user = labvault_make_user(app)
    response = call_me(app.test_client(), bearer(user.token))
    assert response.status_code == 200
    assert response.json["id"] == user.id
    assert response.json["email"] == user.email

    assert jwt.get_unverified_header(user.token)["alg"] == algorithm
    verifying_key = TEST_SECRET_KEY if algorithm == "HS256" else keys[algorithm].public_pem
    decoded = jwt.decode(
        user.token,
        verifying_key,
        algorithms=[algorithm],
        audience=AUDIENCE,
        issuer="https://labvault.chem.example.org",
    )
    assert set(decoded) == set(REQUIRED_CLAIMS)
    assert decoded["sub"] == str(user.id)
    assert decoded["aud"] == AUDIENCE
    assert decoded["nbf"] == decoded["iat"]
    assert decoded["exp"] - decoded["iat"] == 7 * 60
    assert abs(decoded["iat"] - time.time()) < 60
    with app.app_context():
        another = app.extensions["labvault"].signer.issue(user.id, uuid.uuid4().hex)
    assert jwt.decode(another, options={"verify_signature": False})["jti"] != decoded["jti"]


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "ES256"])
@pytest.mark.parametrize("database", DATABASES)
def test_hand_built_token_with_valid_claims_is_accepted(
    app_for, labvault_make_user, keys, database, algorithm
):
    """The control for the attack matrix: its base claims and encoding are accepted."""
    app = app_for(database, algorithm)
    user = labvault_make_user(app)
    signing_key = TEST_SECRET_KEY if algorithm == "HS256" else keys[algorithm].private_key
    token = jwt.encode(claims(user.id), signing_key, algorithm=algorithm)
    response = call_me(app.test_client(), bearer(token))
    assert response.status_code == 200
    assert response.json["id"] == user.id


@pytest.mark.parametrize("database", DATABASES)
def test_hs256_built_by_hand_is_accepted(app_for, labvault_make_user, database):
    """The control for the key-confusion attacks: hs256_by_hand makes real HS256 tokens."""
    app = app_for(database)
    user = labvault_make_user(app)
    token = hs256_by_hand(claims(user.id), TEST_SECRET_KEY.encode())
    assert call_me(app.test_client(), bearer(token)).status_code == 200


@pytest.mark.parametrize("database", DATABASES)
def test_clock_skew_within_the_leeway_is_tolerated(app_for, labvault_make_user, database):
    app = app_for(database)
    user = labvault_make_user(app)
    now = int(time.time())
    client = app.test_client()
    slightly_early = jwt.encode(claims(user.id, iat=now + 2, nbf=now + 2), TEST_SECRET_KEY)
    just_expired = jwt.encode(claims(user.id, exp=now - 2), TEST_SECRET_KEY)
    assert call_me(client, bearer(slightly_early)).status_code == 200
    assert call_me(client, bearer(just_expired)).status_code == 200


@pytest.mark.parametrize("database", DATABASES)
def test_scheme_name_is_case_insensitive(app_for, labvault_make_user, database):
    app = app_for(database)
    user = labvault_make_user(app)
    response = call_me(app.test_client(), f"bearer {user.token}")
    assert response.status_code == 200


def test_token_of_a_deleted_user_is_refused(shared_app, labvault_make_user, caplog):
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    assert call_me(client, bearer(user.token)).status_code == 200
    with shared_app.app_context():
        session = get_session()
        begin_write(session)
        session.execute(sa.delete(User).where(User.id == user.id))
        session.commit()
    response = refused_call(client, caplog, bearer(user.token))
    assert_token_refused(response, caplog, "the token's user does not exist", bearer(user.token))


def test_request_without_credentials_gets_a_bare_challenge(shared_client):
    response = shared_client.get("/users/me")
    assert_refused(response, "authentication required", error=None)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="labvault"'


def test_token_of_another_issuer_setting_is_refused(labvault_make_app, labvault_make_user, caplog):
    """Two servers sharing a SECRET_KEY still do not accept each other's tokens."""
    app = labvault_make_app(JWT_ISSUER="https://labvault.physics.example.org")
    user = labvault_make_user(app)
    foreign = jwt.encode(claims(user.id), TEST_SECRET_KEY)  # iss "labvault"
    response = refused_call(app.test_client(), caplog, bearer(foreign))
    assert_token_refused(response, caplog, "not issued by this server", bearer(foreign))


KEY_FILE_PROBLEMS = {
    "not-pem": ("RS256", "not-pem", "RS256.public", "JWT_PRIVATE_KEY_FILE: {} is not a PEM key"),
    "pair-mismatch": (
        "RS256",
        "RS256.private",
        "attacker-RS256.public",
        "JWT_PUBLIC_KEY_FILE: {} is not the public key of JWT_PRIVATE_KEY_FILE",
    ),
    "ec-key-for-RS256": (
        "RS256",
        "ES256.private",
        "ES256.public",
        "JWT_PRIVATE_KEY_FILE: {} is not an RSA key, as RS256 needs",
    ),
    "rsa-key-for-ES256": (
        "ES256",
        "RS256.private",
        "RS256.public",
        "JWT_PRIVATE_KEY_FILE: {} is not an EC key on the P-256 curve, as ES256 needs",
    ),
    "p384-key-for-ES256": (
        "ES256",
        "P384.private",
        "P384.public",
        "JWT_PRIVATE_KEY_FILE: {} is not an EC key on the P-256 curve, as ES256 needs",
    ),
    "public-key-as-private": (
        "RS256",
        "RS256.public",
        "RS256.public",
        "JWT_PRIVATE_KEY_FILE: {} holds no private key",
    ),
    "private-key-as-public": (
        "RS256",
        "RS256.private",
        "RS256.private",
        "JWT_PUBLIC_KEY_FILE: {} holds a private key",
    ),
}


@pytest.mark.parametrize(
    ("algorithm", "private", "public", "problem"),
    list(KEY_FILE_PROBLEMS.values()),
    ids=list(KEY_FILE_PROBLEMS),
)
def test_unusable_key_files_stop_startup(tmp_path, keys, algorithm, private, public, problem):
    files = {"not-pem": tmp_path / "key.txt"}
    files["not-pem"].write_text("hello")
    p384 = _write_pair(tmp_path, "p384", ec.generate_private_key(ec.SECP384R1()))
    pairs = {**keys, "P384": p384}
    for name, pair in pairs.items():
        files[f"{name}.private"] = Path(pair.private_file)
        files[f"{name}.public"] = Path(pair.public_file)
    settings = {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "JWT_ALGORITHM": algorithm,
        "JWT_PRIVATE_KEY_FILE": str(files[private]),
        "JWT_PUBLIC_KEY_FILE": str(files[public]),
    }
    with pytest.raises(ConfigError) as raised:
        create_app(settings)
    culprit = private if problem.startswith("JWT_PRIVATE") else public
    assert raised.value.problems == [problem.format(files[culprit])]
