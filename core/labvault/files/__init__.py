"""Files attached to items: content-addressed storage, uploads and downloads.

``storage`` keeps each distinct content once under FILE_DIRECTORY, named by its sha256;
``download`` serves stored content with ETag, Range and a safe Content-Disposition.
"""

#: How old unreferenced files and content must be before garbage collection removes
#: them: longer than any upload takes (here, not in ``storage``: the CLI shows it).
DEFAULT_GRACE_SECONDS = 3600
