"""Base classes of the extension kinds (file sources are in :mod:`._sources`).

A plugin's registration hook returns *types* (subclasses of the bases below), each with a
unique ``name``. The deployer's config then creates named *instances* of those types,
for example::

    AUTH_PROVIDERS = {"campus": {"type": "oidc", "client_id": "..."}}

Every type declares its options as a marshmallow schema (``ConfigSchema``); the core
validates them with the rest of the settings and reports problems by key path. Each
instance is given the :class:`~labvault.plugin.Host` of the plugin that registered its
type as ``self.host``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import marshmallow as ma

if TYPE_CHECKING:
    from labvault.plugin._host import Host, Identity


class EmptyConfigSchema(ma.Schema):
    """The config schema of a type that takes no options."""

    class Meta:
        unknown = ma.RAISE


class Extension:
    """What every extension type has: a unique type name, a description, its options.

    The core creates the instances; a subclass that needs setup overrides ``__init__``
    with the same arguments and calls ``super().__init__(instance_name, config, host)``.
    """

    #: Unique name of the type within its kind, e.g. ``"oidc"`` or ``"tabular"``.
    name: ClassVar[str] = ""
    #: One line shown in ``/info`` and ``labvault plugins``.
    description: ClassVar[str] = ""
    #: Marshmallow schema of the options a deployer may set for an instance.
    ConfigSchema: ClassVar[type[ma.Schema]] = EmptyConfigSchema

    def __init__(self, instance_name: str, config: Mapping[str, Any], host: Host) -> None:
        #: The deployer's name for this instance (the key in config).
        self.instance_name = instance_name
        #: The validated options.
        self.config: Mapping[str, Any] = config
        #: The core, as the plugin that registered this type reaches it.
        self.host = host


@dataclass(frozen=True)
class AuthorizationRequest:
    """What a redirect provider puts into its authorization URL; the core made each value.

    ``state`` is single-use and valid 10 minutes; ``nonce`` goes into OpenID Connect
    requests (the id_token must carry it back); ``code_verifier`` is the PKCE secret, of
    which the URL carries only the S256 ``code_challenge``.
    """

    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str

    @property
    def code_challenge(self) -> str:
        """The PKCE S256 challenge of ``code_verifier`` (RFC 7636)."""
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class AuthorizationCallback:
    """The provider's redirect back to labvault, its ``state`` already checked by the core.

    ``params`` are the callback's query parameters (``code``, ...); ``redirect_uri``,
    ``nonce`` and ``code_verifier`` are those of the :class:`AuthorizationRequest` the
    flow started with.
    """

    params: Mapping[str, str]
    redirect_uri: str
    nonce: str
    code_verifier: str


class AuthProvider(Extension):
    """A way to sign in (OAuth or OpenID Connect provider, email link, ...).

    A provider only proves who someone is; the core owns accounts, sessions and tokens,
    and applies the registration rules the same way for every provider.

    *Redirect providers* implement :meth:`authorization_url` and
    :meth:`identity_from_callback`; the core serves ``/auth/<instance>/login`` and
    ``/auth/<instance>/callback`` for them and keeps the flow's state, bound to the
    browser that started it. A provider with routes of its own (an email link) serves
    them from :meth:`blueprints` and hands the identity it verified to
    ``self.host.sign_in_response``.

    A provider that sends people URLs of this server (a redirect provider's callback, a
    link in a mail) gets them from ``PUBLIC_URL`` only, never from the request, whose
    host the client chose; such a provider says so (:attr:`sends_links`,
    :attr:`needs_public_url`) and the server does not start without ``PUBLIC_URL``.

    Registration rules read :meth:`allow_list` and :meth:`admits`: ``None`` lets anyone
    register, ``[]`` lets no new account register (existing ones still sign in), and a
    list lets in only who it admits, checked at every sign-in.
    """

    #: Label on the sign-in button, e.g. ``"University login"``.
    display_name: ClassVar[str] = ""
    #: Whether the provider sends people links to this server from routes of its own
    #: (a sign-in link in a mail, built with ``self.host.external_url``).
    sends_links: ClassVar[bool] = False

    @property
    def label(self) -> str:
        """The name people see: the instance's ``display_name`` option, else the type's."""
        return str(self.config.get("display_name") or self.display_name or self.instance_name)

    @property
    def redirects(self) -> bool:
        """Whether this provider signs people in by redirecting them (it implements
        :meth:`authorization_url`)."""
        return type(self).authorization_url is not AuthProvider.authorization_url

    @property
    def needs_public_url(self) -> bool:
        """Whether this provider sends people absolute URLs of this server: its callback
        (it :attr:`redirects`) or links (:attr:`sends_links`). Then ``PUBLIC_URL`` is
        required, and startup and ``labvault config check`` report it missing."""
        return self.redirects or self.sends_links

    def authorization_url(self, request: AuthorizationRequest) -> str:
        """The provider's URL the browser is sent to, carrying ``request``'s values."""
        raise NotImplementedError

    def identity_from_callback(self, callback: AuthorizationCallback) -> Identity:
        """Check the provider's answer (exchange the code, verify what it signed) and
        return who signed in, with ``provider`` set to ``self.instance_name``.

        Raise :class:`~labvault.plugin.Forbidden` when the provider refused or the person
        may not sign in here, :class:`~labvault.plugin.Unauthenticated` when what came
        back fails a check, and :class:`~labvault.plugin.Unavailable` when the provider
        cannot be reached; each message is shown to the person signing in.
        """
        raise NotImplementedError

    def allow_list(self) -> Sequence[str] | None:
        """Who may sign in: None (anyone), ``[]`` (no new accounts) or the entries a
        deployer listed. By default the instance's ``allow_list`` option."""
        listed = self.config.get("allow_list")
        return None if listed is None else [str(entry) for entry in listed]

    def admits(self, identity: Identity) -> bool:
        """Whether a non-empty :meth:`allow_list` lets ``identity`` in; by default when
        it lists the identity's subject. The core hands the identity over with its email
        in normal form (:func:`~labvault.plugin.normalize_email`), or without one that
        is not an address; compare domains with
        :func:`~labvault.plugin.normalize_email_domain`."""
        return identity.subject in (self.allow_list() or ())

    def login_url(self) -> str | None:
        """Where sign-in with a provider that does not redirect starts (a path of its
        own routes), shown in ``GET /auth/providers``."""
        return None

    def blueprints(self) -> list[Any]:
        """Flask or flask-smorest blueprints with this provider's own routes. The core
        counts every request to them towards the ``"signin"`` rate limit (429 with
        Retry-After past it), as it does ``/login`` and ``/callback``, and refuses (403)
        a form posted to them from another site: one whose ``Origin`` is not
        ``PUBLIC_URL``'s. A page whose form posts there sends ``Referrer-Policy:
        strict-origin`` (under ``no-referrer`` browsers post with ``Origin: null``)."""
        return []


@dataclass(frozen=True)
class BlockFile:
    """A stored file as a block type sees it; read it with ``host.files.open(sha256)``."""

    id: int
    name: str
    media_type: str
    size: int
    sha256: str

    @property
    def extension(self) -> str:
        """The lowercase extension of ``name`` with its dot (``".csv"``), or ``""``."""
        return PurePath(self.name).suffix.lower()


class BlockType(Extension):
    """A kind of analysis block attached to an item (comment, table, XRD pattern, ...).

    The client writes a block's ``data`` (validated with ``DataSchema``) and ``file_ids``;
    the core then calls :meth:`compute` and stores what it returns as ``computed``.
    """

    #: Version of the block type's data format; bump it when ``DataSchema`` changes.
    version: ClassVar[str] = "1"
    #: File extensions (lowercase, with the dot) the block type can read, e.g. ``[".csv"]``.
    accepted_file_extensions: ClassVar[tuple[str, ...]] = ()
    #: Marshmallow schema of the block's client-written ``data``.
    DataSchema: ClassVar[type[ma.Schema]] = EmptyConfigSchema

    #: Most files a block of this type takes (``None``: no limit).
    max_files: ClassVar[int | None] = None

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        """Derive results from the block's data and files; stored as ``computed``.

        Must return JSON-serializable values. Raise
        :class:`labvault.plugin.ExtensionError` with a message for the user when a file
        cannot be parsed; the core stores it as the block's ``error``.
        """
        return {}

    def render_png(
        self, data: Mapping[str, Any], computed: Mapping[str, Any], files: list[BlockFile]
    ) -> bytes | None:
        """A PNG picture of the block (``GET .../blocks/<id>/plot.png``), or None if none."""
        return None


@dataclass(frozen=True)
class InventoryRecord:
    """One container of an inventory export, to become (or update) a starting material.

    ``external_id`` identifies it in the inventory (a barcode) and is how a re-import
    finds the item made from it. ``fields`` are starting-material fields as
    ``POST /items`` takes them (``name``, ``barcode``, ``cas``, ``supplier``,
    ``location``, ``container_size``, ``container_unit``, ``chemical_purity``,
    ``full_percent``, ``ghs_hazard_codes``, ``molar_mass``, ``chemical_formula``,
    ``smiles``, ``date_acquired``, ``date_opened``, ``description``); the core validates
    them. ``attributes`` are the export's other columns, by header, kept on the item.
    ``row`` is the record's row in the file (1 is the first row, the header);
    ``warnings`` are problems the row was imported despite (a bad CAS check digit).
    """

    external_id: str
    fields: Mapping[str, Any]
    attributes: Mapping[str, str]
    row: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be imported: its number, the column at fault (if one) and why."""

    row: int
    column: str | None
    reason: str


class InventoryImporter(Extension):
    """A chemical inventory system whose exports become starting materials.

    The importer only reads a file; the core's engine matches its records to items by
    (importer instance, external id), creates, updates or reports them, in one
    transaction, and keeps the report.
    """

    #: File name extensions (lowercase, with the dot) the importer reads, e.g. ``(".xlsx",)``.
    accepted_extensions: ClassVar[tuple[str, ...]] = ()

    def read(self, stream: BinaryIO, filename: str) -> Iterator[InventoryRecord | RowProblem]:
        """Stream the records of an export, and a :class:`RowProblem` for each row that
        cannot be one, in row order, with memory that does not grow with the file.

        Raise :class:`~labvault.plugin.Invalid` with a message for the whole file when it
        cannot be read at all (not this format, a required column missing, text that
        does not decode): the core then imports nothing.
        """
        raise NotImplementedError


#: A backup target's keys: ``/``-separated names of letters, digits, ``.``, ``_`` and ``-``
#: (no empty, ``.`` or ``..`` part), at most 1000 characters. It ends in ``\Z``, not
#: ``$``, which would let a trailing newline pass.
BACKUP_KEY_PATTERN = r"^(?!.*(?:^|/)\.{1,2}(?:/|$))[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*\Z"


def check_backup_key(key: str) -> str:
    """``key`` if it is a valid backup key; ``ValueError`` otherwise (a bug of the caller)."""
    if len(key) > 1000 or not re.match(BACKUP_KEY_PATTERN, key):
        raise ValueError(f"not a backup key: {key!r}")
    return key


class BackupTarget(Extension):
    """Somewhere backups are kept (a local folder, an object store, ...): a small object
    store of keys and their bytes. Snapshots, deduplication, retention, encryption and
    verification are the core's; a target only keeps objects.

    Keys are ``/``-separated names (see :func:`check_backup_key`); the core checks them
    before a call, and checks the keys ``list`` returns again (a listing is the store's
    word). A store that has links (a folder) must not follow them. Failures of the
    store raise :class:`~labvault.plugin.Unavailable` with a message naming the target.
    """

    def put(self, key: str, stream: BinaryIO) -> int:
        """Keep everything ``stream`` yields under ``key`` (replacing what was there), all
        or nothing: no reader ever sees part of it. Returns the bytes kept."""
        raise NotImplementedError

    def get(self, key: str) -> BinaryIO:
        """A stream of the object at ``key`` (the caller closes it); NotFound if none."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        """Whether an object is kept at ``key``."""
        raise NotImplementedError

    def list(self, prefix: str = "") -> Iterator[str]:
        """The keys that start with ``prefix``, in sorted order."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove the object at ``key``; a key with no object is no error."""
        raise NotImplementedError
