"""Exercise 8.3, "Where the channels-first kernel stops streaming": graded by hand."""

OK_FORMAT = False
name = "ex-speed-3"
manual_points = 2
rubric = """\
Once one image, C * H * W * 4 bytes, exceeds the core's level-2 cache (1 or 2 MiB on current
server cores; the size printed in the chapter), the second and third passes read level 3 or
memory. Fix: tile the pixels, running the three passes over [C, P_tile] columns with
C * P_tile * 4 bytes in cache."""
