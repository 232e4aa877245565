"""Video input and output with PyAV: probe, decode to upright RGB, re-encode exactly.

Contract (fail closed, exact):

* :func:`probe_video` reads a file's facts without trusting it: anything that is
  not a decodable video raises a :class:`~veil.errors.MediaError` (or one of its
  subclasses) with a one-line reason; no PyAV/FFmpeg exception escapes.
* :func:`iter_frames` yields every frame as ``(H, W, 3) uint8`` RGB **as
  displayed** (the container's display matrix applied) with its integer ``pts``
  in the stream's ``Fraction`` time base.
* :func:`transcode` decodes again, calls ``render`` on every frame and encodes
  H.264 (libx264) with the same frame count, the same timestamps (no frame-rate
  resampling, so variable frame rate survives), the same picture size and the
  same display matrix, then reopens the output and checks all of that before it
  returns. No container or stream tag of the source is written.

Picture size. H.264 4:2:0 can only signal even picture sizes: the SPS crop unit
is 2 luma pixels, so the ``h264_metadata`` bitstream filter refuses
``crop_right=1`` ("must be a multiple of 2") and a padded 322x242 stream cannot be
cropped back to 321x241. Pictures with an odd coded width or height are therefore
encoded as 4:4:4 (High 4:4:4 profile, crop unit 1), which keeps the exact size;
the result carries a warning because some hardware players cannot play 4:4:4.

Orientation. Frames are encoded in the source's *coded* orientation (the rendered
upright frame is turned back) and the source's display matrix is copied verbatim
with :meth:`av.video.stream.VideoStream.set_display_matrix`, so every player
shows the output exactly as it showed the source (rotations and mirroring).

Timestamps. The output stream uses the source time base; for MP4/MOV the track
and movie timescales are pinned to its denominator (``video_track_timescale``,
``movie_timescale``), so the muxer neither multiplies it nor rounds a start offset
to milliseconds. Matroska always stores milliseconds; it is only chosen for MKV
sources (already in milliseconds) or as the last resort for kept audio. The
reopened output is compared instant by instant with the source.

Containers and audio. ``.mp4/.mov/.m4v/.mkv`` inputs keep their container, all
others become ``.mp4`` (:func:`output_suffix`). With ``audio='keep'`` the audio is
stream-copied; :func:`output_suffix` given the audio codecs moves to ``.mov``
(PCM, MP2) or ``.mkv`` (Vorbis, ...) when MP4 cannot hold them, and
:func:`transcode` refuses (``MediaError``) a container/codec pair outside the
tested table ``containers.AUDIO_COPY`` instead of writing a file players misread.

Modules: ``base`` (records, orientation, safe opening), ``read`` (probing,
decoding), ``encode`` (RGB to H.264), ``containers`` (output containers, audio
copy, muxer tags), ``write`` (:func:`transcode`), ``tags`` (metadata audit).
"""

from .base import Frame, TranscodeResult, VideoInfo
from .read import FrameIterator, iter_frames, probe_video
from .seek import FrameSource
from .write import OUTPUT_SUFFIXES, X264_PRESETS, output_suffix, transcode

__all__ = [
    "VideoInfo",
    "Frame",
    "FrameIterator",
    "TranscodeResult",
    "probe_video",
    "iter_frames",
    "FrameSource",
    "transcode",
    "output_suffix",
    "OUTPUT_SUFFIXES",
    "X264_PRESETS",
]
