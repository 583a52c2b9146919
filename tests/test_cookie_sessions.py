"""Flask's cookie session, which plugins may use, works as Flask's own does, its
serializer made once per secret key (labvault/web/cookies.py)."""

from __future__ import annotations

from flask import Flask, session
from labvault.web.cookies import CookieSessions


def cookie_app(secret_key: str) -> Flask:
    app = Flask("cookies")
    app.secret_key = secret_key
    app.session_interface = CookieSessions()

    @app.get("/remember/<word>")
    def remember(word: str) -> str:
        session["word"] = word
        return "ok"

    @app.get("/recall")
    def recall() -> str:
        return str(session.get("word"))

    return app


def test_the_app_uses_it(shared_app):
    assert isinstance(shared_app.session_interface, CookieSessions)


def test_a_cookie_session_round_trips_and_its_serializer_is_made_once():
    app = cookie_app("first secret")
    client = app.test_client()
    assert client.get("/remember/hello").status_code == 200
    assert client.get("/recall").get_data(as_text=True) == "hello"
    made = app.session_interface.get_signing_serializer(app)
    client.get("/recall")
    assert app.session_interface.get_signing_serializer(app) is made


def test_a_changed_secret_key_refuses_old_cookies_unless_kept_as_a_fallback():
    app = cookie_app("first secret")
    client = app.test_client()
    client.get("/remember/hello")
    app.secret_key = "second secret"
    assert client.get("/recall").get_data(as_text=True) == "None"  # signed with the old key

    client.get("/remember/again")
    app.secret_key = "third secret"
    app.config["SECRET_KEY_FALLBACKS"] = ["second secret"]
    assert client.get("/recall").get_data(as_text=True) == "again"


def test_no_secret_key_means_no_session_as_in_flask():
    app = Flask("no-secret")
    app.session_interface = CookieSessions()
    assert app.session_interface.get_signing_serializer(app) is None
