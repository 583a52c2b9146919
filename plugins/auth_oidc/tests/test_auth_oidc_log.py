"""Nothing secret of a sign-in reaches the server's log."""

from __future__ import annotations

from labvault_auth_oidc.testing import Browser, query_of, visit_provider


def test_the_log_holds_no_code_state_or_token(serve_oidc, oidc_provider):
    served = serve_oidc()
    seen: list[str] = []
    browser = Browser(served.base_url)
    tokens = browser.sign_in("uni")
    seen += [tokens["access_token"], tokens["refresh_token"]]
    # a sign-in whose code is used twice, and one with a forged id_token
    callback_url = visit_provider(browser.start("uni"))
    assert browser.finish(callback_url).status_code == 200
    new_login = query_of(browser.start("uni"))
    replay = callback_url.replace(query_of(callback_url)["state"], new_login["state"])
    assert browser.finish(replay).status_code == 401
    oidc_provider.flaw = "forged"
    forged_login = browser.start("uni")
    forged_callback = visit_provider(forged_login)
    assert browser.finish(forged_callback).status_code == 401
    for url in (callback_url, forged_login, forged_callback):
        seen += [v for k, v in query_of(url).items() if k in ("code", "state", "nonce")]
    seen += [new_login["state"], new_login["nonce"], oidc_provider.client_secret]
    seen += oidc_provider.issued  # codes, access, refresh and id tokens of the provider
    log = served.log()
    assert "refused the code: invalid_grant" in log  # the log did record the refusal
    leaked = [secret for secret in seen if secret and secret in log]
    assert leaked == []
