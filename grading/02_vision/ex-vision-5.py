"""Exercise 2.5, "Patches of two by two pixels": autograded, and the sets by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-vision-5"
answer = """\
# Your answer here. The grader calls your function and reads the probe's
# verdict; say in words which elements share statistics (graded by hand).
def patch_ln(img, p=2):
    \"\"\"nn.LayerNorm(C * p * p) on p-by-p patch tokens of img [N, C, H, W],
    folded back into [N, C, H, W].\"\"\"


r_patch = ...  # normlab.probe's verdict on patch_ln for the shape (2, C, 4, 4)
"""
manual_points = 1
rubric = "All C channels of one 2-by-2 block of pixels of one image share one mean and variance."


@test_case(points=0, hidden=False)
def a_function_that_keeps_the_shape(patch_ln):
    assert callable(patch_ln), f"patch_ln must be a function, got {patch_ln!r}"
    out = patch_ln(torch.randn(1, 3, 4, 4, generator=RNG))
    assert tuple(out.shape) == (1, 3, 4, 4), f"[1, 3, 4, 4] in, got {list(out.shape)} out"


@test_case(points=1, hidden=True)
def normalizes_each_block(patch_ln):
    x = 3 * torch.randn(2, 3, 6, 4, generator=RNG) + 1  # [N, C, H, W]
    blocks = x.reshape(2, 3, 3, 2, 2, 2)  # [N, C, H/2, 2, W/2, 2]
    mean = blocks.mean(dim=(1, 3, 5), keepdim=True)
    var = blocks.var(dim=(1, 3, 5), correction=0, keepdim=True)
    expected = ((blocks - mean) / torch.sqrt(var + 1e-5)).reshape(x.shape)
    torch.testing.assert_close(patch_ln(x), expected)


@test_case(points=1, hidden=True)
def probe_finds_the_blocks(r_patch):
    channels = r_patch.shape[1]
    assert r_patch.group_size == (1, channels, 2, 2), f"group_size {r_patch.group_size}"
