"""Record what the submodules of a model receive and return, with forward hooks.

A model such as Hugging Face's ``BertModel`` calls its LayerNorms deep inside its ``forward``;
to check what they compute we need their inputs and outputs. ``record`` registers a forward hook
on every submodule of a given class for the duration of a ``with`` block and keeps one ``Call``
per call, in the order the calls return (so a block comes after the submodules it calls)::

    with record(model, nn.LayerNorm) as calls:
        model(input_ids)
    calls.names                                    # ['embeddings.LayerNorm', ...]
    calls["embeddings.LayerNorm"].input            # [N, T, D]

The hooks are removed when the block ends, also when it raises. Tensors are detached and cloned
when recorded, so later in-place operations cannot change what was seen.

A recurrent network calls one submodule once per time step. ``parameter_sets`` reads a
recording for the parameters its calls used, by storage: one set for a layer shared by every
step, one set per step for separate layers::

    with record(rnn, nn.LayerNorm) as calls:
        rnn(x)                                     # x: [N, T, E]
    parameter_sets(calls)                          # [[0, 1, ..., T - 1]]: one set, every step

(``normlab.figures.draw_unrolled`` draws such a recording as the unrolled chain.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, overload

import torch
from torch import nn

#: What ``match`` accepts: a module class, a class name, or a tuple/list of those.
Match = type | str | tuple | list


@dataclass(frozen=True)
class Call:
    """One call of one hooked submodule.

    Attributes:
        name: the submodule's qualified name in ``model.named_modules()``, e.g.
            ``"encoder.layer.0.output.LayerNorm"`` (``""`` for the model itself).
        module: the submodule that was called.
        args: its positional arguments; tensors detached and cloned.
        kwargs: its keyword arguments; tensors detached and cloned.
        output: what it returned; tensors (also inside tuples, named tuples, lists and plain
            dicts) detached and cloned; other containers, such as Hugging Face's ``ModelOutput``,
            are kept as they are.
    """

    name: str
    module: nn.Module = field(repr=False)
    args: tuple[Any, ...] = field(repr=False)
    kwargs: dict[str, Any] = field(repr=False)
    output: Any = field(repr=False)

    @property
    def input(self) -> torch.Tensor:
        """The first positional argument, which must be a tensor (the usual ``forward(x)``).

        Shapes: whatever the module received, e.g. ``[N, T, D]`` for a LayerNorm.
        """
        if not self.args or not isinstance(self.args[0], torch.Tensor):
            got = type(self.args[0]).__name__ if self.args else "no positional argument"
            keywords = [k for k, v in self.kwargs.items() if isinstance(v, torch.Tensor)]
            hint = (
                f"; its tensors came as keyword arguments {keywords} (read "
                f".kwargs[{keywords[0]!r}])"
                if keywords
                else ""
            )
            raise TypeError(
                f"Call.input is the first positional argument as a tensor, but "
                f"{self.name or 'the model'} ({type(self.module).__name__}) got {got}{hint}; "
                f"look at .args and .kwargs instead"
            )
        return self.args[0]

    def __repr__(self) -> str:
        shapes = [
            list(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__ for a in self.args
        ]
        out = (
            list(self.output.shape)
            if isinstance(self.output, torch.Tensor)
            else type(self.output).__name__
        )
        return f"Call({self.name!r}, {type(self.module).__name__}, args={shapes}, output={out})"


class Recording(Sequence):
    """The calls recorded by ``record``, in the order they returned; index by position or name.

    ``recording[i]`` is the i-th call; ``recording["encoder.layer.0.output.LayerNorm"]`` is the
    one call of that submodule (an error if it was called more than once: use ``calls_of``).
    """

    def __init__(self) -> None:
        self._calls: list[Call] = []

    def _add(self, call: Call) -> None:
        self._calls.append(call)

    @property
    def names(self) -> list[str]:
        """The names of the called submodules, in the order the calls returned (repeats kept)."""
        return [c.name for c in self._calls]

    def calls_of(self, name: str) -> list[Call]:
        """Every call of the submodule ``name``, in order (an empty list if none)."""
        return [c for c in self._calls if c.name == name]

    @overload
    def __getitem__(self, key: int) -> Call: ...

    @overload
    def __getitem__(self, key: slice) -> list[Call]: ...

    @overload
    def __getitem__(self, key: str) -> Call: ...

    def __getitem__(self, key):
        if isinstance(key, str):
            calls = self.calls_of(key)
            if not calls:
                hint = (
                    ""
                    if self._calls
                    else " (nothing was recorded: was the model called inside the with block?)"
                )
                raise KeyError(
                    f"no call of a submodule named {key!r} was recorded{hint}; recorded names: "
                    f"{sorted(set(self.names))}"
                )
            if len(calls) > 1:
                raise ValueError(
                    f"submodule {key!r} was called {len(calls)} times; use "
                    f"recording.calls_of({key!r}) to get all of its calls"
                )
            return calls[0]
        if isinstance(key, bool) or not isinstance(key, (int, slice)):
            raise TypeError(
                f"index a Recording with an int, a slice or a module name (str), got "
                f"{type(key).__name__} {key!r}"
            )
        return self._calls[key]

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(self._calls)

    def __repr__(self) -> str:
        return f"Recording({len(self._calls)} calls: {self.names})"


def _match_items(match: object) -> tuple[type | str, ...]:
    """``match`` as a non-empty tuple of module classes and class names, else raise."""
    items = tuple(match) if isinstance(match, (tuple, list)) else (match,)
    if not items:
        raise ValueError(
            "match must name at least one module class or class name, got an empty "
            f"{type(match).__name__}"
        )
    for item in items:
        ok_type = isinstance(item, type) and issubclass(item, nn.Module)
        ok_name = isinstance(item, str) and item != ""
        if not (ok_type or ok_name):
            raise TypeError(
                "match must be a module class (such as nn.LayerNorm), a class name (such as "
                f"'BertOutput'), or a tuple of those; got {item!r} in match={match!r}"
            )
    return items


def matching_modules(model: nn.Module, match: Match) -> list[tuple[str, nn.Module]]:
    """The ``(name, submodule)`` pairs of ``model`` whose class matches ``match``.

    Args:
        model: any ``nn.Module``; the model itself is included (with name ``""``).
        match: a module class (matches instances, subclasses included), a class name (matches
            ``type(m).__name__`` exactly), or a tuple/list of those (matches any of them).

    Returns:
        The matches in ``model.named_modules()`` order (registration order, not call order).

    Raises:
        TypeError: ``model`` is not a module, or ``match`` holds something else.
        ValueError: ``match`` is empty, or it or one of its items matches no submodule (the
            message names what was looked for and lists the classes the model does contain).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    items = _match_items(match)
    types = tuple(i for i in items if isinstance(i, type))
    names = {i for i in items if isinstance(i, str)}
    found = [
        (name, m)
        for name, m in model.named_modules()
        if (types and isinstance(m, types)) or type(m).__name__ in names
    ]
    present = sorted({type(m).__name__ for m in model.modules()})
    if not found:
        raise ValueError(
            f"match={match!r} matched no submodule of {type(model).__name__}; "
            f"the classes it contains are {present}"
        )
    for item in items:  # each item must match something: a name that matches nothing is a typo
        if not any(_matches(m, item) for _, m in found):
            looked_for = item.__name__ if isinstance(item, type) else repr(item)
            raise ValueError(
                f"{looked_for} in match={match!r} matched no submodule of "
                f"{type(model).__name__}; the classes it contains are {present}"
            )
    return found


def _matches(module: nn.Module, item: type | str) -> bool:
    """Whether ``module`` matches one item of ``match``: an instance of a class, or a name."""
    if isinstance(item, type):
        return isinstance(module, item)
    return type(module).__name__ == item


def _snapshot(obj: Any) -> Any:
    """A detached clone of every tensor in ``obj`` (recursing into tuples, lists and dicts), the
    containers' own types kept (a named tuple, or ``torch.return_types.max``, keeps its fields)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, tuple):
        items = [_snapshot(o) for o in obj]
        if hasattr(obj, "_fields"):  # a namedtuple
            return type(obj)(*items)
        if type(obj) is not tuple:  # a struct sequence, such as torch.return_types.max
            return type(obj)(items)
        return tuple(items)
    if isinstance(obj, list):
        return [_snapshot(o) for o in obj]
    if type(obj) is dict:
        return {k: _snapshot(v) for k, v in obj.items()}
    return obj


@contextmanager
def record(model: nn.Module, match: Match) -> Iterator[Recording]:
    """Record ``(name, inputs, output)`` of every call of the submodules that match ``match``.

    Args:
        model: the ``nn.Module`` whose submodules (itself included) are hooked.
        match: a module class such as ``nn.LayerNorm``, a class name such as ``"BertOutput"``,
            or a tuple/list of those; see ``matching_modules``.

    Yields:
        A ``Recording`` that fills up while the block runs: one ``Call`` per call, in the order
        the calls return (a forward hook runs after ``forward``), with detached clones of the
        positional arguments (``args``), keyword arguments (``kwargs``) and ``output``. For a
        LayerNorm on ``[N, T, D]``, ``call.input`` and ``call.output`` are both
        ``[N, T, D]``.

    Raises:
        TypeError, ValueError: as ``matching_modules`` (before anything is hooked).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        >>> with record(net, nn.LayerNorm) as calls:
        ...     y = net(torch.randn(2, 3, 4))
        >>> calls.names, list(calls["1"].input.shape)
        (['1'], [2, 3, 4])
    """
    modules = matching_modules(model, match)
    recording = Recording()
    handles = []

    def make_hook(name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            recording._add(
                Call(name, module, _snapshot(args), _snapshot(dict(kwargs)), _snapshot(output))
            )

        return hook

    try:
        for name, module in modules:
            handles.append(module.register_forward_hook(make_hook(name), with_kwargs=True))
        yield recording
    finally:
        for handle in handles:
            handle.remove()


def parameter_sets(calls: Sequence[Call]) -> list[list[int]]:
    """Group the calls (indices ``0 .. len(calls) - 1``) by the parameter tensors they used.

    Two calls use the same set when their modules hold the same parameters by name and by
    storage (equal ``data_ptr()``): the same numbers in memory, not merely equal values. Calls
    of a module without parameters belong to no set.

    Args:
        calls: a ``Recording`` from ``record``, or a list of its ``Call``s.

    Returns:
        One list of call indices per set, in order of first use; e.g. ``[[0, 1, 2]]`` when one
        module served three steps, ``[[0], [1], [2]]`` for three separate modules.

    Raises:
        TypeError, ValueError: ``calls`` is not a non-empty sequence of ``Call`` objects.
    """
    if isinstance(calls, (str, bytes)) or not isinstance(calls, Sequence):
        raise TypeError(
            f"calls must be a Recording from normlab.hooks.record or a list of Call objects, "
            f"got {type(calls).__name__}"
        )
    if not calls:
        raise ValueError(
            "calls must hold at least one Call, got none (was the model called inside the "
            "record block?)"
        )
    groups: dict[tuple, list[int]] = {}
    for i, call in enumerate(calls):
        if not isinstance(call, Call):
            raise TypeError(f"calls[{i}] must be a normlab.hooks.Call, got {type(call).__name__}")
        # one (name, storage) pair per parameter: the key of the set this call used
        key = tuple((name, p.data_ptr()) for name, p in call.module.named_parameters())
        if key:
            groups.setdefault(key, []).append(i)
    return list(groups.values())
