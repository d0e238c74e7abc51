"""``avprep download``: the listed 10-second clips from YouTube, paced, resumable, accounted for.

- :mod:`.segments` where each clip lies (AudioSet segment CSVs, VGGSound ids and csv, LIST files)
"""
