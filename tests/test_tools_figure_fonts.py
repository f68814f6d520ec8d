"""tools/figure_fonts.py: a figure's PNG records the smallest text it draws, and its size on
screen follows from the widths."""

import base64

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tools import figure_fonts  # noqa: E402


@pytest.fixture
def fig():
    figure, ax = plt.subplots(figsize=(4, 3), dpi=100)
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title", fontsize=14)
    ax.tick_params(labelsize=9)
    ax.text(0.5, 0.5, "small note", fontsize=7)
    yield figure
    plt.close(figure)


def test_the_smallest_drawn_text_is_recorded(fig):
    assert figure_fonts.smallest_font(fig) == 7
    natural, points, dpi = figure_fonts.record(figure_fonts.png(fig))
    assert (points, dpi) == (7, 100)
    assert 250 < natural <= 400  # tight bounding box of a 4-inch figure at 100 dpi


def test_text_that_is_not_drawn_does_not_count(fig):
    fig.axes[0].texts[0].set_visible(False)
    assert figure_fonts.smallest_font(fig) == 9  # the tick labels
    fig.axes[0].set_axis_off()  # its tick labels exist but are not drawn
    assert figure_fonts.smallest_font(fig) == 14
    fig.axes[0].set_title("")
    with pytest.raises(ValueError, match="draws no text"):
        figure_fonts.smallest_font(fig)


def test_drawing_twice_leaves_the_renderer_as_it_was(fig):
    renderer = fig.canvas.get_renderer()
    before = renderer.draw_text
    figure_fonts.smallest_font(fig)
    assert renderer.draw_text == before


def test_a_png_from_elsewhere_has_no_record(fig, tmp_path):
    fig.savefig(tmp_path / "plain.png")
    assert figure_fonts.record((tmp_path / "plain.png").read_bytes()) is None


def test_size_on_screen():
    # A 1000 px PNG at 100 dpi shown 500 px wide: 10 pt text is 13.9 px, halved.
    assert figure_fonts.on_screen(1000, 10, 100, 500) == pytest.approx(10 * 100 / 72 / 2)


def test_command_flags_small_and_unrecorded_figures(fig, tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    small = base64.b64encode(figure_fonts.png(fig)).decode()
    fig.savefig(tmp_path / "plain.png")
    plain = base64.b64encode((tmp_path / "plain.png").read_bytes()).decode()
    nb.cells = [
        nbformat.v4.new_code_cell(
            outputs=[nbformat.v4.new_output("display_data", data={"image/png": data})]
        )
        for data in (small, plain)
    ]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    assert figure_fonts.main([str(path)]) == 1  # the unrecorded figure fails
    out = capsys.readouterr().out
    assert "cell 1:" in out and "smallest text 7 pt -> 9.7 px on screen: ok" in out
    assert "cell 2: no font record" in out
    assert figure_fonts.main([str(path), "--column", "100"]) == 1
    assert "too small" in capsys.readouterr().out  # 7 pt shrunk to a 100 px column


def test_kernel_extension_shows_figures_with_a_record(monkeypatch):
    from IPython.core import pylabtools
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setattr(pylabtools, "print_figure", pylabtools.print_figure)  # restored after
    shell = InteractiveShell.instance()
    try:
        figure_fonts.load_ipython_extension(shell)
        figure_fonts.load_ipython_extension(shell)  # loading twice wraps once
        pylabtools.select_figure_formats(shell, {"png"})  # as the inline backend does
        figure, ax = plt.subplots(figsize=(2, 2))
        ax.set_axis_off()
        ax.set_title("t", fontsize=11)
        data, _ = shell.display_formatter.format(figure)
        plt.close(figure)
        assert figure_fonts.record(base64.b64decode(data["image/png"]))[1:] == (11, 100)
    finally:
        InteractiveShell.clear_instance()
