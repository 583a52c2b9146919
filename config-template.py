# labvault configuration.
#
# `labvault init DIRECTORY` writes this file as DIRECTORY/config.py, with a .env beside
# it holding a fresh SECRET_KEY; edit it there. Every labvault command finds it as
#   1. the file LABVAULT_CONFIG names, if set;
#   2. else $LABVAULT_HOME/config.py (set LABVAULT_HOME=DIRECTORY for the service and cron);
#   3. else ./config.py in the working directory (`make run` copies this file there).
# It is ordinary Python: only UPPERCASE names are read, and an unknown name is an error.
#
# Every setting can also come from the environment as LABVAULT_<SETTING>; values that
# parse as JSON are decoded, so lists and dicts work there too, e.g.
#     LABVAULT_PLUGINS='["auth_github", "fs_ssh"]'
# and LABVAULT_<SETTING>=null unsets a setting whose default is None (e.g. PUBLIC_URL).
# The environment wins over this file. The .env file in this file's folder is read into
# the environment first (never the working directory's, once a config file is found): a
# good place for secrets; keep it mode 0600.
#
# Any setting here may name the environment variable holding its value instead, so that
# this file need not hold it: {"env": "LAB_DATABASE_URL"} as the value of DATABASE_URL
# reads that variable, decoded as LABVAULT_<SETTING> values are; an unset variable is an
# error naming both.
#
# Relative paths (INSTANCE_PATH, FILE_DIRECTORY, LOG_FILE, the JWT key files, an SQLite
# DATABASE_URL like "sqlite:///labvault.db") are relative to this file's folder.
#
# Check a configuration without starting the server: `labvault config check`. It reports
# every problem at once (settings, plugins and their options, unset environment variables,
# missing backup folders) and warns of folders and key files others may read.
#
# Not a setting: LABVAULT_TRACE_PLUGINS=1 in the environment logs every plugin hook call
# (logger "labvault.plugins", INFO): hook, plugins reached, argument names, duration.

# --- Identity -----------------------------------------------------------------------

# REQUIRED. Prefix of every item's refcode (PREFIX:XXXXXX): 1 to 10 lowercase ASCII
# letters. Choose it once: refcodes never change.
# Example: "grey", "lab"
IDENTIFIER_PREFIX = "lab"

# Who runs this server and where to get help; shown in GET /info.
# Default: all None. Example:
# DEPLOYMENT_METADATA = {
#     "maintainer": "Lab IT <it@example.org>",
#     "issue_tracker": "https://git.example.org/lab/labvault/issues",
#     "homepage": "https://lab.example.org",
#     "source_repository": "https://git.example.org/lab/labvault",
# }

# --- Secrets and tokens -------------------------------------------------------------

# Signs access tokens (HS256). REQUIRED in production, at least 32 characters; keep it
# out of version control (.env: LABVAULT_SECRET_KEY=...). In development
# (`labvault serve --dev`, `make run`) a random key is generated once and kept in
# INSTANCE_PATH/secret_key. Changing it signs everyone out.
# Default: None. Example: generate with
#   python -c 'import secrets; print(secrets.token_urlsafe(48))'
# SECRET_KEY = "..."

# Lifetime of an access token (JWT), in minutes. Default: 15. Example: 60
# Signing out, a replayed refresh token or deactivating the user stops the session's
# access tokens at once anyway: the database remembers a revoked session this long.
# ACCESS_TOKEN_LIFETIME = 15

# How long a sign-in lasts, in hours: refresh tokens stop working this long after
# signing in, however often they are rotated. Default: 336 (14 days). Example: 24
# SESSION_LIFETIME = 336

# Signing algorithm of access tokens: "HS256" (with SECRET_KEY), or "RS256"/"ES256"
# with a PEM key pair (then JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE are required).
# Default: "HS256". Example: "ES256"
# JWT_ALGORITHM = "HS256"

# PEM files of the key pair for RS256/ES256. Default: None.
# Example: "/etc/labvault/jwt-private.pem" and "/etc/labvault/jwt-public.pem"
# JWT_PRIVATE_KEY_FILE = None
# JWT_PUBLIC_KEY_FILE = None

# The "iss" claim of access tokens; tokens with another issuer are refused.
# Default: "labvault". Example: "labvault.chem.example.org"
# JWT_ISSUER = "labvault"

# --- Storage ------------------------------------------------------------------------

# Folder for the server's own files (development secret key, default SQLite database,
# default file store), made mode 0700 when missing. Default: "instance" (beside this
# file). Example: "/var/lib/labvault"
# INSTANCE_PATH = "instance"

# Database. Default: an SQLite file INSTANCE_PATH/labvault.db (fine for a small group).
# Production: MariaDB/MySQL through PyMySQL (utf8mb4 is added when missing), or
# PostgreSQL (pip install 'labvault[postgresql]'). Run `labvault db upgrade` after
# installing or upgrading labvault.
# Examples:
#   "mysql+pymysql://labvault:secret@db.example.org:3306/labvault"
#   "postgresql+psycopg://labvault:secret@db.example.org/labvault"
# DATABASE_URL = None

# How long a request waits for the database, in seconds. A statement running longer is
# stopped (MariaDB max_statement_time, PostgreSQL statement_timeout, SQLite's busy
# timeout), and a database that does not answer within it (down, or hung) is taken for
# unavailable: the request answers 503 with Retry-After and GET /health/ready says so.
# A hung server (MariaDB, or PostgreSQL through psycopg) is noticed within about twice
# this (the pool's ping of a connection, then a new connection).
# CLI commands (migrations, backups, imports, reindexing) only bound the connect.
# Default: 6.
# DATABASE_TIMEOUT = 6

# Full-text search on MariaDB: "auto" uses Mroonga when the server has it, else InnoDB
# FULLTEXT; "mroonga" insists on it (`labvault db upgrade` fails without it); "innodb"
# keeps InnoDB FULLTEXT. At 100,000 items a search takes about 30 ms with Mroonga and
# 160 ms with InnoDB (bench/api.py), and Mroonga's time hardly grows with the number of
# items. Add it to a Debian/Ubuntu MariaDB server with
#   apt-get install mariadb-plugin-mroonga && mariadb -e "INSTALL SONAME 'ha_mroonga'"
# then run `labvault db upgrade`, which builds the index of the engine it finds (and
# `labvault search reindex` rebuilds it). The database user needs the TRIGGER privilege
# (and, with binary logging on, log_bin_trust_function_creators=1): triggers note each
# change for Mroonga's copy of the texts and of who reads each item. `labvault config
# check` and GET /info say which engine searches. SQLite and PostgreSQL have their own
# index. Default: "auto".
# MARIADB_SEARCH_ENGINE = "auto"

# Where uploaded files are stored (content-addressed, each file read-only). The server
# makes missing folders mode 0700; keep the folder private to the server's user (0700,
# or 0750 for a backup group): `labvault config check` warns otherwise. Files nothing
# refers to any more are removed by `labvault files gc` (run it from cron).
# Default: INSTANCE_PATH/files. Example: "/srv/labvault/files"
# FILE_DIRECTORY = None

# Largest file upload accepted (a multipart/form-data body, streamed to disk), in
# bytes; a larger one gets 413. A reverse proxy in front must take as much (nginx:
# client_max_body_size). The text fields of an upload are held in memory: at most 16
# parts, each text field at most 128 KiB.
# Default: 1073741824 (1 GiB). Example: 5 * 1024**3
# MAX_CONTENT_LENGTH = 1073741824

# Largest body that is not a file upload (JSON, a form, raw bytes), in bytes. Such a
# body is held in memory, and no route needs much: a larger one gets 413, refused on
# its Content-Length before it is read, or when a chunked body passes the limit. It
# bounds the routes of plugins too.
# Default: 1048576 (1 MiB). Example: 4 * 1024**2
# MAX_JSON_LENGTH = 1048576

# --- Plugins ------------------------------------------------------------------------

# A plugin provides types (of sign-in providers, file sources, inventory importers,
# backup targets, block types); the settings below configure named instances of a type,
# each with its options, which the type's README lists. labvault's own types ("local",
# the block types) need no plugin.

# Plugins to enable, by name (`labvault plugins` lists what is installed). A name that
# is not installed stops startup. Default: []. Example: ["auth_github", "fs_ssh"]
# Items of an item type whose plugin is disabled stay readable but read-only (a change
# answers 409) until it is enabled again; `labvault config check` warns of such types.
# After a plugin changes a type, `labvault items check-type TYPE` lists the items that
# no longer validate (they stay readable).
# PLUGINS = []

# Options of enabled plugins, by plugin name: what each plugin takes is in its README
# (and `labvault config check` says what is wrong, by key path). A plugin that declares
# no options takes none. Default: {}. Example:
# PLUGIN_OPTIONS = {"instrument_bridge": {"url": "http://xrd-pc.lab:8080", "timeout": 10}}
# A secret option (a password, a client secret, a key) may name the environment variable
# that holds it instead, so this file need not: {"password": {"env": "BRIDGE_PASSWORD"}}.
# The same works for the secrets of AUTH_PROVIDERS, FILE_SOURCES and the other instances
# below, where their type declares the option a secret (its README says so).

# Sign-in methods: instance name -> {"type": <provider type>, **its options}. The types
# come from enabled plugins (auth_github, auth_orcid, auth_email, auth_oidc); each
# plugin's README lists its options. People sign in at /auth/<instance>/login (or, for
# email links, POST /auth/<instance>/request); GET /auth/providers lists them. A redirect
# provider must be registered with the callback URL <PUBLIC_URL>/auth/<instance>/callback,
# and every provider that redirects or mails links needs PUBLIC_URL (below).
# Secrets come from the environment: {"env": "NAME"}.
#
# Registration, the same for every provider, by its allow list:
#   None  anyone may register; new accounts are *unverified* (they sign in, but only
#         /users/me and its identities answer them) until an admin activates them;
#   []    no new account may register; existing accounts still sign in;
#   [...] only who the list admits may sign in (checked at every sign-in), and accounts
#         it admits are active at once.
# A deactivated account never signs in. An email joins an existing account only when both
# the provider and the account verified it; other identities are linked explicitly, by
# signing in with link=true while signed in, and confirmed on the page that sign-in ends
# on, which names the account (GET /users/me/identities lists them). A sign-in belongs to
# the browser that started it (a cookie, see PUBLIC_URL): its callback elsewhere is refused.
# Default: {}. Example:
# AUTH_PROVIDERS = {
#     "github": {
#         "type": "github",
#         "client_id": "Iv1.0123456789abcdef",
#         "client_secret": {"env": "GITHUB_CLIENT_SECRET"},
#         "org_allow_list": [1234567, "our-lab"],  # organisation ids or names
#     },
#     "orcid": {
#         "type": "orcid",
#         "client_id": "APP-0123456789ABCDEF",
#         "client_secret": {"env": "ORCID_CLIENT_SECRET"},
#         "allow_list": None,  # or ORCID iDs: ["0000-0002-1825-0097"]
#     },
#     "email": {
#         "type": "email",
#         "host": "smtp.example.org",
#         "port": 587,
#         "security": "starttls",
#         "username": "labvault",
#         "password": {"env": "SMTP_PASSWORD"},
#         "sender": "labvault <labvault@example.org>",
#         "domain_allow_list": ["example.org"],  # and its subdomains
#     },
#     "uni": {
#         "type": "oidc",
#         "display_name": "University login",
#         "issuer": "https://login.example.org/realms/lab",
#         "client_id": "labvault",
#         "client_secret": {"env": "OIDC_CLIENT_SECRET"},
#         "allow_list": ["@example.org"],  # subjects, or @domain of a verified email
#     },
# }

# Origins a sign-in may send its tokens to (GET /auth/<instance>/login?next=URL puts them
# in the URL fragment of next). Any other next is refused. Without next, the tokens are
# shown on a page (or answered as JSON to "Accept: application/json").
# Default: [] (none). Example: ["https://notebooks.lab.example.org"]
# ALLOWED_REDIRECT_ORIGINS = []

# The server's public URL: the address people reach labvault at, with the path prefix it
# is served under, if any. Sign-in callbacks and links in mails are built from it and
# never from a request, whose Host header (or, behind a proxy, X-Forwarded-Host) the
# client chooses: a link pointing at another host would hand that host its secret.
# Under a prefix it holds the prefix ("https://example.org/labvault": a callback is
# <PUBLIC_URL>/auth/<instance>/callback, the prefix not added twice); the paths an answer
# holds (Location, login_url, content_url, /doc, the spec's servers) follow the prefix of
# the request itself (SCRIPT_NAME or X-Forwarded-Prefix, see PROXY_HEADERS).
# Required when a sign-in provider redirects (github, orcid, oidc) or mails links
# (email): startup and `labvault config check` stop with "AUTH_PROVIDERS.<instance>: ...
# set PUBLIC_URL" without it.
# Its scheme names the cookie binding a sign-in to its browser: over https
# "__Host-labvault-signin" (Secure, HttpOnly, SameSite=Lax), over plain http (development
# only) "labvault-signin" without Secure. A form posted to a sign-in route (an email
# link's button, a link's confirmation) is refused unless its Origin is this URL's.
# Default: None (then no sign-in provider that redirects or mails links may be enabled).
# Example: "https://labvault.example.org"
# PUBLIC_URL = None

# Places raw data is read from: instance name -> {"type": ..., **options}. The type
# "local" (built in) serves a folder of this machine, e.g. a mounted share; "ssh" comes
# with the fs_ssh plugin. Every type also takes: "description", "max_depth" (folders
# walked, default 32), "max_entries" (default 250000; a larger tree is an error) and
# "excludes" (fnmatch patterns of names or paths to leave out). People browse them at
# /file-sources and copy a file into an item with POST /items/<refcode>/files/from-source.
# What excludes and max_depth leave out of the listing cannot be copied either, also not
# through a link. Links are followed only while they lead inside the source's root; the
# account labvault runs as (or logs in with) should still read nothing it must not serve.
# Default: {}. Example:
# FILE_SOURCES = {
#     "nas": {"type": "local", "path": "/mnt/nas/instruments", "excludes": [".*"]},
#     "xrd-pc": {
#         "type": "ssh",
#         "hostname": "xrd-pc.lab.example.org",
#         "username": "labvault",
#         "key_file": "/etc/labvault/id_ed25519",
#         "known_hosts": "/etc/labvault/known_hosts",
#         "root": "/data/exports",
#     },
# }

# How old (minutes, fractions allowed) a cached listing of a file source may get before
# it is rebuilt when used; also how often a copied file's original is checked for
# changes when the copy is read. Run `labvault sources sync` from cron more often than
# this, so that people rarely wait for a listing. Default: 60. Example: 15
# REMOTE_CACHE_MAX_AGE = 60

# An explicit refresh (?refresh=true) sooner than this many minutes after the last
# rebuild is answered from the cache (and says so). Default: 1. Example: 0.5
# REMOTE_CACHE_MIN_AGE = 1

# Chemical inventory systems whose exports become starting materials: instance name ->
# {"type": ..., **options}. "cheminventory" comes with the inventory_cheminventory plugin
# (it reads ChemInventory's Excel and CSV exports; its README lists the columns). Import
# with `labvault inventory import <instance> FILE --user EMAIL [--dry-run]
# [--mark-missing disposed]` or POST /inventory/imports (managers and admins); a
# re-import updates the items it made earlier and never duplicates them.
# Default: {}. Example:
# INVENTORY_IMPORTERS = {"stores": {"type": "cheminventory", "encoding": "utf-8-sig"}}

# The most rows one inventory import takes; a larger export is refused whole (nothing is
# imported). Default: 250000. Example: 50000
# INVENTORY_MAX_ROWS = 250000

# Backup strategies: name -> {"target": {"type": ..., **options}, "frequency": ...,
# "retention": ...}. Each strategy keeps a repository on its target that stores every
# file content once across its snapshots (a second backup of unchanged files stores only
# the new database dump). A snapshot holds a database-independent dump of every table
# (it restores onto SQLite, MariaDB or PostgreSQL), the file contents the dump refers to,
# this config without secrets, and a manifest with a sha256 for every part.
#   target:      where the repository is. Type "local" (built in): {"type": "local",
#                "path": "/mnt/backup/labvault"}, a folder of this machine, made
#                beforehand (`labvault config check` says when it is missing; give each
#                strategy its own folder; links in it are never followed, so a backup
#                or restore that meets one stops). Object stores come with plugins
#                (backup_s3).
#   frequency:   how often `labvault backup due` runs it: "30m", "12h", "1d", "7d", "2w".
#   retention:   snapshots to keep (at least 1); older ones are removed after a
#                successful run, then the contents no remaining snapshot refers to.
#   encryption_key_env (optional): the environment variable holding the key that
#                encrypts everything the strategy writes (AES-256-GCM; at least 32
#                characters, e.g. `openssl rand -base64 32`). Keep a copy of the key
#                somewhere else: WITHOUT IT NOTHING CAN BE RESTORED. A repository keeps
#                the choice it was made with, and a random salt its keys are derived
#                with. Each object is sealed for its place (the strategy's name and its
#                key, so a snapshot's id and time): whoever keeps the target can
#                neither read it nor copy or rename it unnoticed; a restore elsewhere
#                must name the strategy as it was named here.
#   compression_level (optional): zlib level 0-9 of what is stored. Default: 6.
# Put one line in cron: `labvault backup due` (runs every strategy whose last success is
# older than its frequency). `labvault backup list|verify|restore` and GET /backups,
# POST /backups/<name> (admins) do the rest; `labvault backup create --output-path
# FILE.tar.gz` writes one self-contained archive without any strategy.
# Each database has an installation id (made by `labvault db upgrade`, shared by every
# server on it) that each snapshot records and a restore never carries over. A server
# restored from another's backup, with this same setting, would write into the other's
# repositories: a strategy whose newest snapshot is another installation's refuses to
# run (`backup create`, `backup due`, POST /backups/<name>: 409) until
# `labvault backup adopt NAME` says this server takes that repository over (the other
# is then refused in turn); or give the strategy a target of its own. Snapshots from
# before installation ids count as this installation's.
# Default: {}. Example:
# BACKUP_STRATEGIES = {
#     "nightly": {
#         "target": {"type": "local", "path": "/mnt/backup/labvault"},
#         "frequency": "1d",
#         "retention": 14,
#     },
# }

# Options of block types, by block type name (every registered block type is on).
# The built-in ones take:
#   comment  remote_images: show images from any address (default False). Otherwise a
#            comment shows only the images of its own files (file_ids, files of its
#            item), written as ![name](/files/<id>/content); an image from anywhere
#            else, which every reader's browser would fetch (a tracking pixel), becomes
#            a link in a Markdown image and loses its src in raw HTML.
#   tabular  max_plot_points: points of its plot at most (default 5000);
#            max_unpacked_size: bytes an .xlsx workbook may unpack to, all its parts
#            together (default 16777216, 16 MiB: some 350,000 numbers, read in 2 s;
#            the block is computed while its request waits, and a sheet of empty
#            cells that size takes openpyxl 15-21 s, inside gunicorn's 30 s timeout);
#            max_compression_ratio: how many times its packed size a part of 1 MiB or
#            more may unpack to (default 200; real workbooks pack 5 to 20 times, a
#            "zip bomb" 250 to 1000). Both are checked from the sizes the workbook
#            declares, before anything is unpacked; a workbook over them is the
#            block's error. Tables larger than that read faster as CSV.
# A plugin's block types document theirs in its README, e.g. plugins/blocks_xrd
# (xrd: wavelength, force_wavelength and the peak search's min_prominence, ...).
# Default: {}. Example: {"tabular": {"max_plot_points": 5000, "max_unpacked_size": 33554432}}
# BLOCK_TYPES = {}

# Options of interchange formats (file formats items are exported to: GET
# /items/<refcode>/export.<format>, labvault export; and imported from: POST /imports,
# labvault import), by format name. Every format an
# enabled plugin provides is on; the core has none of its own. plugins/interchange_eln
# (the ELN Consortium's .eln) takes license: the URL of the exported data's license
# (default https://choosealicense.com/no-permission/: no permission beyond the law's).
# Default: {}. Example: {"eln": {"license": "https://creativecommons.org/licenses/by/4.0/"}}
# INTERCHANGE_FORMATS = {}

# The most bytes an imported archive (POST /imports, labvault import) may unpack to, all
# its files together, read from its table of contents before anything is unpacked; each
# file of it may be at most MAX_CONTENT_LENGTH, as an upload. Default: 68719476736
# (64 GiB). Example: 10737418240
# IMPORT_MAX_UNPACKED_SIZE = 68719476736

# The most files (parts) an imported archive may hold, read from its table of contents
# first (each costs some memory before anything is unpacked: about 0.5 KB). An export of
# 10,000 items with their files and blocks has some 12,000. Default: 200000.
# IMPORT_MAX_PARTS = 200000

# --- Web server -----------------------------------------------------------------------
# The server process is set by the options of `labvault serve` (README, "Deploying"):
# --workers and --threads, and for slow clients --header-timeout (10 s to send the
# request line and headers, then 408) and --idle-timeout (60 s without a byte of the
# body or of the answer read); --timeout (gunicorn's worker timeout, 30 s) and
# --pid-file. Other gunicorn settings go in GUNICORN_CMD_ARGS (the options given to
# `labvault serve` win over it; it may not change the worker class, the logger or
# which forwarded headers count).

# How many reverse proxies (nginx, Caddy, a load balancer) stand between clients and
# labvault. Their X-Forwarded-* headers (those in PROXY_HEADERS) are taken, each from
# this many proxies back: the client address is then the one the outermost proxy saw,
# and a client that adds addresses of its own to X-Forwarded-For is still counted as
# itself by the rate limits and the audit log. 0: no proxy, every forwarded header is
# ignored. Behind a proxy, labvault must be reachable through it only: bind `labvault
# serve` to 127.0.0.1 (or a private interface the proxy alone reaches), or anyone
# could send the headers a proxy would. Each proxy must set (overwrite, not pass on)
# the headers it forwards; nginx:
#     proxy_set_header Host $host;
#     proxy_set_header X-Forwarded-For $remote_addr;    # the outermost proxy
#     proxy_set_header X-Forwarded-Proto $scheme;
# (a proxy behind another appends: $proxy_add_x_forwarded_for). gunicorn under
# `labvault serve` trusts no forwarded header of its own; one run by hand should be
# given `--forwarded-allow-ips ''` as well. Default: 0. Example: 1
# PROXY_HOPS = 0

# Which X-Forwarded-* headers the proxies of PROXY_HOPS set, to be trusted:
# "X-Forwarded-For" (client address), "X-Forwarded-Proto" (https), "X-Forwarded-Host",
# "X-Forwarded-Port", "X-Forwarded-Prefix" (a path prefix, /labvault). Links and
# sign-in callbacks come from PUBLIC_URL, so the host is not needed; trust it only if
# the proxy overwrites it. Changing this without PROXY_HOPS is an error.
# Serving labvault under a path (https://example.org/labvault/), a proxy that strips the
# prefix says it in X-Forwarded-Prefix, to be listed here (nginx: location /labvault/ {
# proxy_pass http://127.0.0.1:8000/; proxy_set_header X-Forwarded-Prefix /labvault; }):
# /doc, the spec's servers and every link labvault answers are then under the prefix.
# Untrusted, the header is ignored. A proxy that passes the whole path on needs none of
# this: run labvault with SCRIPT_NAME=/labvault in its environment instead (gunicorn).
# Default: ["X-Forwarded-For", "X-Forwarded-Proto"].
# Example: ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Prefix"]
# PROXY_HEADERS = ["X-Forwarded-For", "X-Forwarded-Proto"]

# Origins allowed to call the API from a browser (CORS). Default: [] (none).
# Example: ["https://notebooks.lab.example.org"]
# CORS_ORIGINS = []

# Serve the API documentation: Swagger UI at /doc (with its files under /doc/assets/)
# and the OpenAPI document at /openapi.json (both under the path prefix, if any). False
# answers 404 there, for a server that should not describe itself. Default: True.
# Example: False
# API_DOCS = True

# Rate limits per client address, by kind of route: "signin" counts starting and
# finishing a sign-in (GET /auth/<instance>/login and /callback: two per sign-in) and
# every request to a sign-in provider's own routes (an email link's /request and
# /verify), "token" counts POST /auth/refresh, POST /auth/logout and creating an API key. Every
# attempt counts, accepted or not; one more gets 429 with Retry-After. The counts are
# kept in the database, so all workers (and servers on one database) share them.
# Behind a reverse proxy set PROXY_HOPS, or every client shares one count.
# A limit is "<attempts>/<second|minute|hour|day>"; 0 or None switches a kind off, and
# a kind left out keeps its default; None instead of the dict switches all of them off.
# Default: {"signin": "20/minute", "token": "30/minute"}.
# Example: {"signin": "10/minute", "token": "100/hour"}
# RATE_LIMITS = {"signin": "20/minute", "token": "30/minute"}

# --- Logging and debugging ----------------------------------------------------------

# Also write the server log to this file. Default: None (standard error only).
# Each process opens it again when it was moved or removed, on its next line: logrotate's
# plain rotation (create, no copytruncate) needs no signal. gunicorn's own log files
# (GUNICORN_CMD_ARGS="--access-logfile ...") are reopened on SIGUSR1 to the server's pid
# (`labvault serve --pid-file`): postrotate `kill -USR1 $(cat /run/labvault.pid)`.
# Example: "/var/log/labvault/labvault.log"
# LOG_FILE = None

# Log level: "DEBUG", "INFO", "WARNING", "ERROR" or "CRITICAL". Default: "INFO".
# LOG_LEVEL = "INFO"

# Flask debug mode. Never in production. Default: False.
# DEBUG = False
