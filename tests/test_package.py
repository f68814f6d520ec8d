"""The normlab package as a reader installs it, with no repository around it: every module
imports, it holds only what a chapter uses (no build tool), and it imports nothing it does not
declare."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The reader-facing modules, one concern each; the book's build tools live in tools/.
MODULES = {
    "checks", "cli", "figures", "hooks", "normalize", "probe", "speed", "spmd", "survey",
    "tables",
}  # fmt: skip


def declared_dependencies():
    """The names in pyproject.toml's ``dependencies = [...]`` (read without tomllib, which
    Python 3.10 lacks)."""
    text = (ROOT / "pyproject.toml").read_text()
    listed = re.search(r"^dependencies = \[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    return {re.match(r"[\w.-]+", dep)[0] for dep in re.findall(r'"([^"]+)"', listed[1])}


def test_pip_install_gives_every_module_and_no_build_tool(tmp_path, normlab_source):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(normlab_source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    installed = {p.stem for p in (site / "normlab").glob("*.py")} - {"__init__", "__main__"}
    assert installed == MODULES, f"the package holds {sorted(installed)}"
    assert (site / "normlab" / "__main__.py").is_file()  # python -m normlab: the command
    # Chapter 8 reads the stored benchmark from the installed package (in Colab too).
    assert (site / "normlab" / "data" / "bench-cpu.json").is_file()
    assert (site / "normlab" / "data" / "warmup.json").is_file()  # chapter 5's stored run
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r}); import importlib, normlab; "
        f"assert normlab.__file__.startswith({str(site)!r}), normlab.__file__; "
        f"[importlib.import_module('normlab.' + m) for m in {sorted(MODULES)!r}]"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_package_imports_only_what_it_declares():
    allowed = declared_dependencies() | set(sys.stdlib_module_names) | {"normlab"}
    for path in sorted((ROOT / "src" / "normlab").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}, not declared"
