"""``multipart/form-data`` bodies (RFC 7578), for the REST deployment endpoint.

Built on the standard library's MIME parser: a form is a MIME multipart document whose
parts carry ``Content-Disposition: form-data; name=...; filename=...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser


class MultipartError(ValueError):
    """The body is not a well-formed ``multipart/form-data`` document."""


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None
    content: bytes


def parse_form_data(content_type: str | None, body: bytes) -> list[FormPart]:
    """The parts of a ``multipart/form-data`` body, in order."""
    if not content_type or content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise MultipartError(
            f"expected multipart/form-data, got {content_type or 'no content type'}"
        )
    if "boundary=" not in content_type:
        raise MultipartError("multipart/form-data without a boundary parameter")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart() or message.defects:
        raise MultipartError("malformed multipart body")
    parts: list[FormPart] = []
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage) or part.get_content_disposition() != "form-data":
            raise MultipartError("a part without Content-Disposition: form-data")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise MultipartError("a form-data part without a name")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        parts.append(FormPart(name, part.get_filename(), content))
    return parts
