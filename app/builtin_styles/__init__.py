"""The built-in styles: public-domain paintings shipped with the code (`styles.toml` names each
file with its title, artist, year, why it is public domain, its licence and where the copy came
from). The API registers them at start (`ATELIER_BUILTIN_STYLES`), as styles every key sees and
no key can delete."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BuiltinStyle:
    file: str
    title: str
    artist: str
    year: str
    movement: str
    public_domain: str
    source: str
    source_url: str
    licence: str

    @property
    def name(self) -> str:
        return f"{self.title} ({self.artist})"

    @property
    def path(self) -> Path:
        return FOLDER / self.file


def builtin_styles() -> list[BuiltinStyle]:
    """The shipped styles, in the data file's order."""
    with (FOLDER / "styles.toml").open("rb") as f:
        return [BuiltinStyle(**entry) for entry in tomllib.load(f)["style"]]
