"""Containers veil writes: suffixes, the audio each can stream-copy, the tags its muxer writes.

:data:`MUXER`, :data:`AUDIO_COPY`, :func:`can_copy_audio`, :data:`MUXER_TAGS`
and :func:`leaked_tags` serve :mod:`.encode` and :mod:`.write`.
"""

from __future__ import annotations

from typing import Any, Mapping

#: Output containers veil writes (all can hold H.264 and copied audio).
OUTPUT_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")

#: Tags the muxers write themselves (checked on the reopened output): key -> the
#: values allowed, None for any. None of them carries information from the source;
#: Matroska's mandatory MuxingApp reads back as ``encoder`` and is the bare "Lavf"
#: under the bitexact flag (no version).
MUXER_TAGS: dict[str, frozenset[str] | None] = {
    "major_brand": None,
    "minor_version": None,
    "compatible_brands": None,
    "vendor_id": None,
    "duration": None,
    "language": frozenset({"und"}),
    "handler_name": frozenset({"VideoHandler", "SoundHandler"}),
    "encoder": frozenset({"Lavf"}),
}


def output_suffix(src_suffix: str, *, audio_codecs: tuple[str, ...] | list[str] = ()) -> str:
    """Container suffix veil writes for an input with suffix ``src_suffix``.

    ``.mp4``, ``.mov``, ``.m4v`` and ``.mkv`` are kept; every other input
    (``.webm``, ``.avi``, ``.mpg``, ``.ts``, ``.flv``, ``.wmv``, ...) becomes ``.mp4``.

    Parameters
    ----------
    src_suffix : str
        Input suffix, with or without the dot, any case.
    audio_codecs : sequence of str
        Only when audio is kept: the input's audio codec names
        (:attr:`~veil.media.video.VideoInfo.audio`). If the chosen container cannot hold one of them
        as a stream copy, ``.mov`` (PCM and other QuickTime audio) and then
        ``.mkv`` are tried, in that order.

    Returns
    -------
    str
        Lower-case suffix with the dot, one of :data:`OUTPUT_SUFFIXES`.
    """
    suffix = src_suffix.lower()
    if suffix and not suffix.startswith("."):
        suffix = "." + suffix
    chosen = suffix if suffix in OUTPUT_SUFFIXES else ".mp4"
    if not audio_codecs:
        return chosen
    for candidate in (chosen, ".mov", ".mkv"):
        if all(can_copy_audio(candidate, codec) for codec in audio_codecs):
            return candidate
    return chosen  # transcode() will refuse it with a clear message


#: Output suffix -> FFmpeg muxer.
MUXER = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

_PCM = frozenset(
    f"pcm_{k}" for k in ("s16le", "s16be", "s24le", "s24be", "s32le", "s32be", "f32le",
                         "f32be", "f64le", "f64be", "u8", "s8", "alaw", "mulaw")
)
# Audio codecs each muxer takes as a stream copy that players read back as the same
# codec (tried with FFmpeg 8: MOV refuses Opus and FLAC; MP2 in MP4 reads back as
# MP3; PCM in MP4 needs the recent 'ipcm' box, so PCM goes to MOV). Matroska takes
# everything its muxer accepts (None).
AUDIO_COPY: dict[str, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}),
    "mov": frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "alac"}) | _PCM,
    "matroska": None,
}


def can_copy_audio(suffix: str, codec: str) -> bool:
    """Whether a container of ``suffix`` takes audio of ``codec`` as a stream copy (:data:`AUDIO_COPY`)."""
    allowed = AUDIO_COPY[MUXER[suffix]]
    return allowed is None or codec in allowed


def leaked_tags(container: Any) -> set[str]:
    """Tags of the reopened output that its muxer did not write by itself."""

    def foreign(tags: Mapping[str, str]) -> set[str]:
        out = set()
        for key, value in tags.items():
            allowed = MUXER_TAGS.get(key.lower(), frozenset())
            if allowed is not None and value not in allowed:
                out.add(key)
        return out

    keys = foreign(container.metadata)
    for s in container.streams:
        keys |= {f"stream {s.index} {k}" for k in foreign(s.metadata)}
    return keys
