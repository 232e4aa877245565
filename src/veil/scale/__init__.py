"""Scale: runs that resume after a crash, files spread over a Dask cluster, long videos in segments.

* :mod:`.journal` and :mod:`.resume`: the output folder's append-only journal.
* :mod:`.tasks`: the units of work (one file) that run anywhere.
* :mod:`.cluster`: ``--cluster ADDRESS`` / ``--cluster local:N`` (optional extra ``veil[cluster]``).
* :mod:`.segments`: one long video split at key frames, pass 1 and pass 2 per segment.

Importing this package imports no Dask.
"""
