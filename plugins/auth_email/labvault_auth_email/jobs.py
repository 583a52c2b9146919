"""The sign-in mail as a job: recorded by the request, sent by whichever process runs jobs
(a thread of a server worker, or another runner's worker), tried again when the SMTP
server cannot be reached, and sent after a restart when the process that took the
request died first.

The job's payload names the instance, the address and ``next``; it holds no secret. The
link's ticket is issued as the mail is sent, so only the mail carries it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from labvault.plugin import Host, Invalid, Job, JobType

if TYPE_CHECKING:
    from labvault_auth_email.provider import EmailLinkProvider

#: The email provider instances of each app (by its host), by instance name: where a
#: job finds the options (SMTP server, sender, lifetime) of the instance that recorded it.
_instances: weakref.WeakKeyDictionary[Host, dict[str, EmailLinkProvider]] = (
    weakref.WeakKeyDictionary()
)


def register(provider: EmailLinkProvider) -> None:
    """Let the jobs of ``provider``'s app find it by its instance name."""
    _instances.setdefault(provider.host, {})[provider.instance_name] = provider


class SignInMail(JobType):
    """Send one sign-in link: payload ``{"instance", "recipient", "next"}``."""

    name = "auth_email_sign_in_mail"
    description = "Send a sign-in link by mail"
    max_attempts = 3
    retry_delay = 20.0

    def run(self, job: Job) -> dict[str, Any]:
        instance = job.payload["instance"]
        provider = _instances.get(self.host, {}).get(instance)
        if provider is None:  # the instance was removed from AUTH_PROVIDERS meanwhile
            raise Invalid(f"there is no email sign-in instance {instance!r} any more")
        provider.send_link(job.payload["recipient"], job.payload["next"])
        return {"instance": instance}
