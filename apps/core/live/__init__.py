"""Live acquisition: detector sources, live processing and recording (docs/live.md).

A *source* (:mod:`.merlin`, :mod:`.dectris`) arms a detector, reads the acquisition's
description and yields :class:`~.stream.FrameBlock`\\ s, contiguous runs of frames with their
scan indices. :mod:`.session` feeds the blocks into analyses through the same per-partition
interface the file executors use and, optionally, into a :mod:`.recording` (raw + JSON
sidecar). :class:`~.stream.FrameLedger` keeps count of what arrived, so lost frames and a
truncated acquisition are reported, never padded silently.
"""
