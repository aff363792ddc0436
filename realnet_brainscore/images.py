"""Opening image files that a data set names: the header's size is checked before any pixel is
decoded, and PIL's many error types become one line naming the file."""
import contextlib
from pathlib import Path

from . import bounds
from .errors import RealnetError, first_line
from .files import regular_file


@contextlib.contextmanager
def opened_image(path):
    """``with opened_image(path) as image``: the PIL image of ``path``, its header read and its pixel
    count checked against ``bounds.IMAGE_PIXELS`` before the body decodes it. A bomb, a file that is
    no image, a truncated or damaged one (here or while the body decodes it) is one RealnetError."""
    from PIL import Image, UnidentifiedImageError
    path = regular_file(path, 'image file')  # a FIFO would block the decoder forever
    try:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
            if width * height > bounds.IMAGE_PIXELS:
                raise RealnetError(f'{path}: its header declares {width}×{height} pixels, above the bound of '
                                   f'{bounds.IMAGE_PIXELS} pixels a stimulus image may have; refused before decoding')
            yield image
    except RealnetError:
        raise
    except Image.DecompressionBombError as error:  # PIL's own, far higher bound, met while reading the header
        raise RealnetError(f'{path}: {first_line(error)}; refused before decoding') from error
    except UnidentifiedImageError as error:
        problem = 'an empty file' if Path(path).stat().st_size == 0 else 'not an image file'
        raise RealnetError(f'{path}: {problem}; replace it with the published image') from error
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as error:  # not MemoryError: that is the exit policy's
        # what PIL raises for truncated or damaged files (SyntaxError: a broken PNG chunk)
        raise RealnetError(f'{path}: damaged image ({type(error).__name__}: {first_line(error)}); replace it with '
                           f'the published image') from error
