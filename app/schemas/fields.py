"""Field types that more than one body shares, so that each rule is written once."""

from typing import Annotated

from pydantic import AfterValidator, Field

from contracts.images import NAME_MAX_LENGTH, NAME_MIN_LENGTH, check_name

# The one name rule (styles, sets, models, trainings): 1 to 200 characters, never truncated.
Name = Annotated[
    str,
    AfterValidator(check_name),
    Field(json_schema_extra={"minLength": NAME_MIN_LENGTH, "maxLength": NAME_MAX_LENGTH}),
]
