"""Exercise 2.3, "BatchNorm with a batch of one": graded by hand."""

OK_FORMAT = False
name = "ex-vision-3"
manual_points = 2
rubric = """\
InstanceNorm (nn.InstanceNorm2d(C), or GroupNorm(C, C)): BatchNorm reduces over (N, H, W),
which with N = 1 is (H, W) for each channel of the one image. A check with assert_close."""
