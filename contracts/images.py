"""Image files and names: one list of suffixes, one name-length rule."""

# The formats an upload is accepted in (PNG, JPEG, WebP, GIF): a set upload's zip, the admin
# CLI's folder upload, the worker's content folder and the trainer's `list_images` read the same
# files, so a set that passes the upload check is a set the trainer can read.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")

NAME_MIN_LENGTH = 1
NAME_MAX_LENGTH = 200


def has_image_suffix(filename: str) -> bool:
    return filename.lower().endswith(IMAGE_SUFFIXES)


def check_name(value: str) -> str:
    """A name of a style, set, model or training (surrounding spaces dropped), or ValueError:
    1 to 200 characters, never truncated."""
    name = value.strip()
    if not NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH:
        raise ValueError(f"{NAME_MIN_LENGTH} to {NAME_MAX_LENGTH} characters are required")
    return name
