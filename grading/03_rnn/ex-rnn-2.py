"""Exercise 3.2, "Causal statistics": the function autograded, parts 2 and 3 by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-rnn-2"
answer = """\
# Your answer here. The grader calls your function on streams of its own; answer
# parts 2 and 3 in words (graded by hand).
def causal_norm(s):
    \"\"\"s: [T, D] -> [T, D]; token t normalized over tokens 0..t.\"\"\"
"""
manual_points = 1
rubric = """\
Token 0 agrees with nn.LayerNorm(D) (it sees only itself), the last token with
nn.LayerNorm([T, D]) (it sees the whole stream), the others with neither. The probe refuses
to name a set: token t depends on earlier tokens, not the reverse, so no group shares one
set of statistics."""


@test_case(points=0, hidden=False)
def a_function_that_keeps_the_shape(causal_norm):
    assert callable(causal_norm), f"causal_norm must be a function, got {causal_norm!r}"
    out = causal_norm(torch.randn(4, 3, generator=RNG))
    assert tuple(out.shape) == (4, 3), f"[4, 3] in, got {list(out.shape)} out"


@test_case(points=2, hidden=True)
def each_token_over_the_tokens_before_it(causal_norm):
    s = 2 * torch.randn(6, 3, generator=RNG) + 1  # [T, D]
    rows = []
    for t in range(6):
        seen = s[: t + 1]
        mean, var = seen.mean(), seen.var(correction=0)
        rows.append((s[t] - mean) / torch.sqrt(var + 1e-5))
    torch.testing.assert_close(causal_norm(s), torch.stack(rows), atol=1e-4, rtol=1e-4)
