"""Only the parsers of the accepted formats ever see an uploaded file or a
camera frame: Pillow is asked to open it with those formats alone, so a
file in any other format (and a bug in its parser) never reaches a parser
the portal does not need. Formats with a signature are still named in the
refusal."""

import io

import pytest
from PIL import Image

from search.imaging import ALLOWED_FORMATS, ImageError, load_image


def encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 120), (200, 150, 120)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def parsers_called(monkeypatch):
    """Which of Pillow's openers were handed the file."""
    Image.init()
    called = []
    for name, (factory, accept) in list(Image.OPEN.items()):
        def spy(fp, filename=None, *args, _factory=factory, _name=name):
            called.append(_name)
            return _factory(fp, filename, *args)
        monkeypatch.setitem(Image.OPEN, name, (spy, accept))
    return called


@pytest.mark.parametrize("fmt", ["TGA", "PCX", "SGI", "TIFF", "GIF"])
def test_a_file_of_another_format_reaches_no_parser_but_the_accepted_ones(fmt, parsers_called):
    with pytest.raises(ImageError) as refused:
        load_image(encoded(fmt))
    assert refused.value.code in ("not_an_image", "unsupported_format")
    assert set(parsers_called) <= ALLOWED_FORMATS, parsers_called


def test_a_jpeg_is_read_by_the_jpeg_parser(parsers_called):
    load_image(encoded("JPEG"))
    assert parsers_called == ["JPEG"]
