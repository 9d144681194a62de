"""The import-graph check (`make lint`): it finds circles however they are hidden."""

from __future__ import annotations

from pathlib import Path

from devstack.import_graph import problems


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_product_has_no_circles_and_never_imports_tests() -> None:
    assert problems() == []


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    write(tmp_path, {
        "agent/__init__.py": "",
        "agent/a.py": "from . import b\n",
        "agent/b.py": "def f():\n    from .c import x\n",
        "agent/c.py": "from agent.a import y\n",
    })
    assert problems(tmp_path, ["agent"]) == ["import circle: agent.a -> agent.b -> agent.c"]


def test_a_circle_under_type_checking_and_through_a_package_init_is_found(tmp_path: Path
                                                                           ) -> None:
    write(tmp_path, {
        "agent/__init__.py": "",
        "agent/tools/__init__.py": "from .book import tool\n",
        "agent/tools/book.py": "from agent.tools import helper\n",  # the package, not a module
        "agent/data/__init__.py": "",
        "agent/data/db.py": "from .schema import migrate\n",
        "agent/data/schema.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                "    from .db import Database\n",
    })
    assert problems(tmp_path, ["agent"]) == [
        "import circle: agent.data.db -> agent.data.schema",
        "import circle: agent.tools -> agent.tools.book",
    ]


def test_imports_of_the_test_tree_and_of_the_worker_are_refused(tmp_path: Path) -> None:
    write(tmp_path, {
        "agent/__init__.py": "", "agent/cli.py": "from .worker import build_server\n",
        "agent/worker.py": "", "agent/outbound.py": "from agent.worker import entrypoint\n",
        "bench/__init__.py": "", "bench/run.py": "from tests.support.caller import TestCaller\n",
    })
    assert problems(tmp_path, ["agent", "bench"]) == [
        "agent.outbound imports agent.worker; only the CLI may (calls go through agent.call)",
        "bench.run imports the test tree (tests.support.caller)",
    ]


def test_no_module_of_the_worker_is_over_400_lines() -> None:
    root = Path(__file__).resolve().parents[2] / "agent"
    long = {str(p.relative_to(root)): n for p in root.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}, "split these modules by concern"
