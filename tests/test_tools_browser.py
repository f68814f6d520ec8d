"""tools/browser.py finds a browser, or says why there is none; it never passes silently."""

import pytest

from tools import browser


def test_a_browser_on_the_path_is_found(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "google-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert browser.main() == 0
    assert capsys.readouterr().out.strip() == str(fake)


def test_no_browser_and_no_apt_get_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there: no browser, no apt-get
    monkeypatch.setattr(browser, "MACOS", ())
    assert browser.main() == browser.NOT_FOUND
    assert "no apt-get to install one" in capsys.readouterr().err


def test_a_wrong_chromium_path_is_an_error_not_a_skip(monkeypatch, capsys):
    monkeypatch.setenv("CHROMIUM", "/no/such/browser")
    with pytest.raises(SystemExit) as info:
        browser.main()
    assert info.value.code == 2
    assert "CHROMIUM=/no/such/browser is not an executable file" in capsys.readouterr().err
