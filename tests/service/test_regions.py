"""Protected regions (`keep_boxes`, `mask`, `feather`) and ad formats (`output_size`, `crop`):
refused with a code and nothing written when bad; end to end, the kept pixels are the photo's
and the result has the format's exact size."""

import io

import pytest
from PIL import Image
from service_helpers import finished_result, max_diff

from contracts.regions import crop_window


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _photo(size: tuple[int, int]) -> Image.Image:
    """A textured photo: a gradient with a checker, so a stylized copy differs everywhere."""
    width, height = size
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 255) // width, (y * 255) // height, 200 if (x // 8 + y // 8) % 2 else 40)
            for y in range(height)
            for x in range(width)
        ]
    )
    return image


def _mask(size: tuple[int, int], keep_left: float) -> bytes:
    """White (stylize) with the left `keep_left` fraction black (keep)."""
    mask = Image.new("L", size, 255)
    mask.paste(0, (0, 0, int(size[0] * keep_left), size[1]))
    return _png(mask)


# (fields, files, status, code): each refused before anything is stored.
BAD_REGIONS = [
    ({"keep_boxes": "[[0, 0, 1.5, 1]]"}, {}, 422, "box_outside"),
    ({"keep_boxes": "[[-0.1, 0, 0.5, 1]]"}, {}, 422, "box_outside"),
    ({"keep_boxes": "[[0.6, 0, 0.5, 1]]"}, {}, 422, "box_outside"),
    ({"keep_boxes": "[[0, 0, 1]]"}, {}, 422, "invalid_box"),
    ({"keep_boxes": "not json"}, {}, 422, "invalid_box"),
    ({"keep_boxes": "[]"}, {}, 422, "invalid_box"),
    ({"feather": "-1"}, {}, 422, "invalid_parameter"),
    ({}, {"mask": ("m.png", b"this is not an image", "image/png")}, 422, "invalid_mask"),
    ({}, {"mask": ("m.png", _png(Image.new("L", (8, 8), 0)), "image/png")}, 422, "mask_all_black"),
    ({"output_size": "1080"}, {}, 422, "invalid_size"),
    ({"output_size": "10x10"}, {}, 422, "invalid_size"),
    ({"output_size": "100x100", "crop": "[0, 0, 2, 1]"}, {}, 422, "box_outside"),
    ({"crop": "[0, 0, 0.5, 1]"}, {}, 422, "invalid_parameter"),
]


@pytest.mark.parametrize(("fields", "files", "status", "code"), BAD_REGIONS)
def test_bad_regions_are_refused_and_nothing_is_written(api, fields, files, status, code) -> None:
    before = api.state()
    response = api.submit(
        content=("photo.png", _png(_photo((40, 30))), "image/png"),
        style=("style.png", _png(_photo((20, 20))), "image/png"),
        **fields,
        **files,
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert api.state() == before


def test_crop_window_is_the_largest_of_the_formats_aspect_centred_in_the_crop() -> None:
    assert crop_window((200, 100), (100, 100), None) == (50, 0, 150, 100)  # centre
    assert crop_window((200, 100), (100, 100), (0.5, 0.0, 1.0, 1.0)) == (100, 0, 200, 100)
    assert crop_window((200, 100), (200, 50), None) == (0, 25, 200, 75)
    # A crop past the format's aspect is narrowed around its centre, never stretched.
    assert crop_window((400, 400), (100, 100), (0.0, 0.0, 1.0, 0.5)) == (100, 0, 300, 200)


def _stylize(stack, client, photo: Image.Image, **extra) -> Image.Image:
    files = {
        "content": ("photo.png", _png(photo), "image/png"),
        "style": ("style.png", _png(Image.new("RGB", (48, 48), (250, 230, 20))), "image/png"),
    }
    if "mask" in extra:
        files["mask"] = ("mask.png", extra.pop("mask"), "image/png")
    response = client.post(
        "/v1/stylizations", files=files, data={"method": "optimisation", **extra}
    )
    return finished_result(stack, client, response)[1]


@pytest.mark.e2e
def test_kept_box_and_mask_keep_the_photos_pixels(running_stack) -> None:
    photo = _photo((96, 64))
    feather = 4
    with running_stack.client() as client:
        boxed = _stylize(
            running_stack, client, photo, keep_boxes="[[0, 0, 0.5, 1]]", feather=str(feather)
        )
        masked = _stylize(running_stack, client, photo, mask=_mask((24, 16), 0.5))
    assert boxed.size == masked.size == photo.size
    left, right = (0, 0, 48, 64), (48 + feather * 2, 0, 96, 64)
    # The kept half is the photo's, pixel for pixel (PNG: lossless).
    assert max_diff(boxed.crop(left), photo.crop(left)) <= 2
    assert max_diff(masked.crop(left), photo.crop(left)) <= 2
    # ...and the rest was stylized.
    assert max_diff(boxed.crop(right), photo.crop(right)) > 30
    assert max_diff(masked.crop((50, 0, 96, 64)), photo.crop((50, 0, 96, 64))) > 30


@pytest.mark.e2e
def test_ad_format_has_its_exact_size_and_crops_where_asked(running_stack) -> None:
    # Left half red, right half blue; the whole frame kept, so the result is the crop itself.
    photo = Image.new("RGB", (200, 100), (220, 0, 0))
    photo.paste((0, 0, 220), (100, 0, 200, 100))
    keep_all = "[[0, 0, 1, 1]]"
    with running_stack.client() as client:
        story = _stylize(running_stack, client, photo, output_size="1080x1920")
        right = _stylize(
            running_stack,
            client,
            photo,
            output_size="64x64",
            crop="[0.5, 0, 1, 1]",
            keep_boxes=keep_all,
        )
        centre = _stylize(running_stack, client, photo, output_size="64x64", keep_boxes=keep_all)
    assert story.size == (1080, 1920)
    assert right.size == centre.size == (64, 64)
    # Blue only (but for the few columns the scaling filter takes from across the crop's edge).
    assert max_diff(right.crop((4, 0, 64, 64)), Image.new("RGB", (60, 64), (0, 0, 220))) <= 2
    assert centre.getpixel((5, 32)) == (220, 0, 0) and centre.getpixel((58, 32)) == (0, 0, 220)
