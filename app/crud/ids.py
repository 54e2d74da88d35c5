"""Row ids (a UUID4 string), made in one place so that every resource names its rows alike."""

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
