"""The layers of docs/architecture.md, enforced: a lower layer importing a higher one fails the suite."""

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"


def lint(config: Path) -> int:
    return lint_imports(config_filename=str(config), no_cache=True)


def test_imports_run_downhill_and_no_package_has_an_import_cycle(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint(CONFIG) == 0


def test_the_contract_catches_an_upward_import(tmp_path, monkeypatch):
    # The same layers upside down: every real import now points "up", so the check must fail. This
    # proves the contract above reads the project's imports rather than passing vacuously.
    text = CONFIG.read_text()
    layers = [
        "web | staff | operations | api",
        *["linking", "webhooks", "notifications", "reauth", "accounts", "monolink"],
    ]
    upside_down = text.replace("\n    ".join(layers), "\n    ".join(reversed(layers)))
    assert upside_down != text
    reversed_config = tmp_path / "reversed.ini"
    reversed_config.write_text(upside_down)
    monkeypatch.chdir(ROOT)
    assert lint(reversed_config) == 1
