"""The options of an ``orcid`` instance, checked when the app starts."""

from __future__ import annotations

import pytest
from labvault.plugin import ConfigError
from labvault_auth_orcid import OrcidOptions, is_orcid_id


@pytest.mark.parametrize(
    "orcid_id", ["0000-0002-1825-0097", "0000-0001-5109-3700", "0000-0002-1694-233X"]
)
def test_orcid_ids_with_a_right_check_digit_are_accepted(orcid_id):
    assert is_orcid_id(orcid_id)


@pytest.mark.parametrize(
    "orcid_id",
    [
        "0000-0002-1825-0098",
        "0000-0002-1694-2330",
        "0000000218250097",
        "https://orcid.org/0000-0002-1825-0097",
        "0000-0002-1825-009x",
    ],
)
def test_other_ids_are_not_orcid_ids(orcid_id):
    assert not is_orcid_id(orcid_id)


def test_orcid_or_its_sandbox_is_the_issuer():
    options = {"client_id": "APP-1", "client_secret": "s"}
    assert OrcidOptions().load(options)["issuer"] == "https://orcid.org"
    sandbox = OrcidOptions().load({**options, "sandbox": True})
    assert sandbox["issuer"] == "https://sandbox.orcid.org"
    assert sandbox["scopes"] == ["openid"]


def test_bad_options_are_reported_by_key_path(labvault_make_app):
    with pytest.raises(ConfigError) as raised:
        labvault_make_app(
            PLUGINS=["auth_oidc", "auth_orcid"],
            AUTH_PROVIDERS={
                "orcid": {
                    "type": "orcid",
                    "client_id": "APP-1",
                    "allow_list": ["0000-0002-1825-0097", "0000-0002-1825-0098"],
                    "sandbox": "perhaps",
                    "scopes": ["openid"],
                }
            },
        )
    report = "\n".join(raised.value.problems)
    assert "AUTH_PROVIDERS.orcid.client_secret" in report
    assert "AUTH_PROVIDERS.orcid.allow_list.1" in report and "check digit" in report
    assert "AUTH_PROVIDERS.orcid.sandbox" in report
    assert "AUTH_PROVIDERS.orcid.scopes" in report
    assert "0000-0002-1825-0097'" not in report  # the valid entry is not reported


@pytest.mark.parametrize(
    ("sandbox", "uri"),
    [
        (False, "https://orcid.org/0000-0002-1825-0097"),
        (True, "https://sandbox.orcid.org/0000-0002-1825-0097"),
    ],
)
def test_a_person_is_identified_by_the_uri_of_their_orcid_id(labvault_make_app, sandbox, uri):
    from labvault.plugin import AuthProvider
    from labvault.testing import instances_of

    options = {"type": "orcid", "client_id": "APP-1", "client_secret": "s", "sandbox": sandbox}
    app = labvault_make_app(PLUGINS=["auth_oidc", "auth_orcid"], AUTH_PROVIDERS={"orcid": options})
    provider = instances_of(app, AuthProvider)["orcid"]
    # what exports name the people who created items by (as an .eln's Person @id)
    assert provider.person_identifier("0000-0002-1825-0097") == uri
