"""Files attached to items: content-addressed storage, uploads and downloads.

``storage`` keeps each distinct content once under FILE_DIRECTORY, named by its sha256;
``download`` serves stored content with ETag, Range and a safe Content-Disposition.
"""
