"""Picture input and output.

Reading
-------
:func:`read_image` decodes one picture into a numpy array **upright as a
viewer displays it** (EXIF/TIFF/XMP orientation applied, all 8 values; for
HEIF the container's ``irot``/``imir`` transforms, which libheif applies).
Arrays are ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA or ``(H, W)`` grey, ``uint8``
or ``uint16``. Source pixel modes are mapped as follows:

=====================================  ==========================================
source                                 array
=====================================  ==========================================
RGB, RGBA, L (8-bit)                   unchanged
1-bit                                  grey ``uint8`` (0 / 255)
LA (8-bit)                             RGBA ``uint8`` (grey replicated)
palette (P, PA)                        RGBA if it has transparency, else RGB
CMYK                                   RGB: through the embedded ICC profile to
                                       sRGB when there is one, else Pillow's
                                       plain conversion (Adobe inversion handled)
YCbCr, HSV, RGBX, premultiplied        RGB / RGBA
16-bit grey PNG/TIFF (I;16*)           grey ``uint16``
16-bit RGB/RGBA/LA PNG and TIFF        RGB/RGBA ``uint16`` (decoded with OpenCV,
                                       which keeps 16 bits where Pillow cannot)
32-bit integer (I) / float (F) grey    grey ``uint16``: values already in
                                       0..65535 (or 0..1 for float, scaled by
                                       65535) are kept, other ranges are
                                       stretched min..max to 0..65535
=====================================  ==========================================

8-bit RGB(A) and CMYK pictures with an embedded ICC profile that is not sRGB
(Display P3, Adobe RGB, ...) are converted to sRGB on reading, because the
output carries no ICC profile (a profile is metadata and can name a device);
without the conversion colours would shift. 16-bit and grey pictures are not
converted (their profile is dropped).

Only single pictures are read. Multi-frame files (animated GIF, WebP, APNG,
AVIF sequences, multi-image HEIF, multi-page TIFF) are refused with
:class:`~veil.errors.UnsupportedMediaError`: anonymizing frame 0 and dropping
the rest silently would lose content, and copying the rest would publish
faces. Two exceptions, whose extra frames are previews of the same picture
and are dropped (recorded in ``facts['dropped_previews']``): JPEG MPO files
(phone "large thumbnail"/depth/gain-map images) and TIFFs whose extra IFDs are
all marked reduced-resolution (``NewSubfileType`` bit 0).

The pixel count is checked against ``max_pixels`` from the header, before
pixels are decoded. Pillow's own decompression-bomb guard stays active: its
error (over ``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 megapixels by
default) also becomes :class:`~veil.errors.TooLargeError`; its warning is
silenced, since veil's limit applies.

Writing
-------
:func:`write_image` builds a new file from the array alone, so nothing of the
source's metadata can survive: no EXIF (GPS, maker notes, serial numbers,
thumbnails), XMP, IPTC, ICC profile, comments, text chunks or DPI.

=======  ===============================================================
format   encoding
=======  ===============================================================
JPEG     quality 95 by default, chroma 4:4:4 (no subsampling: small faces
         and the sharp edges of filled regions keep their colour), no alpha
PNG      lossless; 8 or 16 bits (16-bit colour encoded with OpenCV)
TIFF     lossless (LZW for 8 bits and 16-bit grey, deflate for 16-bit colour)
WEBP     lossless by default; lossy at ``quality`` when one is given
BMP      8-bit RGB, RGBA or grey (Pillow reads 32-bit BMPs back as RGB)
HEIF     HEVC through pillow-heif, quality 95 by default, 4:2:0 (playable
         on phones), 8-bit
AVIF     Pillow's AVIF encoder, quality 95 by default, 8-bit
=======  ===============================================================

``uint16`` pixels written to a format without 16-bit support are rounded to
8 bits (``round(v / 257)``). GIF sources are written as PNG (see
:func:`output_format`), which keeps their pixels exactly without palette
quantization. Resolution fields hold the encoders' neutral defaults (JFIF
1:1, BMP 96 dpi), never the source's.

Notes
-----
Decoder warnings are collected into ``facts['warnings']`` with
:func:`warnings.catch_warnings`, which is process-global: call
:func:`read_image` from one thread per process (veil's ``--jobs`` uses
processes).

Modules: ``formats`` (tables, suffix and format rules, HEIF registration),
``read`` and ``decode`` (reading), ``write`` (encoders), ``pixels`` (array
checks and conversions). Import the public names from :mod:`veil.media.image`.
"""

from __future__ import annotations

from .formats import READ_FORMATS, WRITE_FORMATS, format_for_suffix, output_format, output_suffix, register_heif
from .pixels import to_rgb8
from .read import Picture, read_image
from .write import check_written, write_image

__all__ = [
    "register_heif",
    "check_written",
    "Picture",
    "read_image",
    "write_image",
    "to_rgb8",
    "output_format",
    "output_suffix",
    "format_for_suffix",
    "READ_FORMATS",
    "WRITE_FORMATS",
]
