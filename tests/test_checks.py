"""normlab.checks: every argument check names the argument, what it expected and what came in."""

import pytest
import torch

from normlab.checks import check_dims, check_names, check_shape, check_tensor


def test_check_tensor():
    x = torch.zeros(2, 3)
    assert check_tensor(x) is x
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got list"):
        check_tensor([1.0])
    with pytest.raises(
        TypeError, match=r"h must be a floating-point tensor .* got dtype torch.int64"
    ):
        check_tensor(torch.ones(2, dtype=torch.long), "h")
    with pytest.raises(ValueError, match="at least one axis, got a 0-d tensor"):
        check_tensor(torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"must not be empty, got shape \[0, 3\]"):
        check_tensor(torch.zeros(0, 3))


def test_check_dims():
    assert check_dims(-1, 3) == (2,)
    assert check_dims([2, 0], 3) == (0, 2)
    with pytest.raises(TypeError, match="dims must be an int or a tuple of ints"):
        check_dims("1", 3)
    with pytest.raises(ValueError, match="at least one axis"):
        check_dims((), 3)
    with pytest.raises(IndexError, match=r"entry 3 is out of range .* \(valid: -3 to 2\)"):
        check_dims(3, 3)
    with pytest.raises(ValueError, match=r"must not repeat an axis, got \(1, -2\)"):
        check_dims((1, -2), 3)


def test_check_shape():
    assert check_shape(torch.Size([2, 3])) == (2, 3)
    with pytest.raises(ValueError, match=r"entries must be at least 2, got \(2, 1\)"):
        check_shape((2, 1), min_size=2)
    with pytest.raises(TypeError, match="must contain ints, got float"):
        check_shape((2, 3.0))


def test_check_names_defaults_follow_the_notation_table():
    assert check_names(None, 2) == ("N", "D")
    assert check_names(None, 3) == ("N", "T", "D")
    assert check_names(None, 4) == ("N", "C", "H", "W")
    assert check_names(None, 5) == ("axis0", "axis1", "axis2", "axis3", "axis4")
    with pytest.raises(ValueError, match="must not repeat a name"):
        check_names(("a", "a"), 2)
    with pytest.raises(TypeError, match="tuple of strings"):
        check_names("ab", 2)


# --- Issue 23: bools are ints to Python, but never axes or sizes. -------------------------------


@pytest.mark.parametrize("dims", [(True,), [2, False]])
def test_check_dims_refuses_bools_inside_the_tuple(dims):
    with pytest.raises(TypeError, match=r"dims must contain ints, got bool (True|False)"):
        check_dims(dims, 3)


def test_check_shape_refuses_bools_as_sizes():
    with pytest.raises(TypeError, match=r"shape must contain ints, got bool True"):
        check_shape((2, True))


# --- Issue 23: defaults and the name of the argument in each message. ---------------------------


def test_check_shape_accepts_axes_of_size_one_unless_told_otherwise():
    assert check_shape((2, 1)) == (2, 1)


@pytest.mark.parametrize("names", [(1, "T"), ("N", ""), ("N",)])
def test_check_names_wants_one_non_empty_string_per_axis(names):
    with pytest.raises(ValueError) as caught:
        check_names(names, 2)
    assert str(caught.value) == (
        f"names must hold 2 non-empty strings, one per axis, got {tuple(names)!r}"
    )
