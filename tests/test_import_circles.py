"""Product code has no import circle (issue 17): every import, including the ones inside
functions and under TYPE_CHECKING, points one way, so any module can be read, tested and
moved with only what is below it. `make lint` checks the same per package (the import
contracts in pyproject.toml); this test covers every product module, so a circle between
modules no contract names yet fails too."""

from __future__ import annotations

import grimp

PRODUCT = ("gateway", "syncers", "xcoresite", "catalog", "fakeapi")


def import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each set of modules that import each other round a circle (strongly connected
    components of two or more modules; Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, imported = work[-1]
            for other in imported:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    on_stack.add(other)
                    work.append((other, iter(sorted(graph.find_modules_directly_imported_by(other)))))
                    break
                if other in on_stack:
                    low[module] = min(low[module], index[other])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))
    return circles


def test_product_code_has_no_import_circle() -> None:
    graph = grimp.build_graph(*PRODUCT, cache_dir=None)
    circles = import_circles(graph)
    assert not circles, "import circles (break each with the dependency pointing down):\n" + "\n".join(
        " <-> ".join(c) for c in circles
    )


def test_the_circle_finder_finds_a_circle_and_only_the_circle() -> None:
    # The check above can only fail if the finder sees circles: a -> b -> c -> a is one,
    # d (imported by a, importing nothing back) is not part of it.
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.a", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    assert import_circles(graph) == [["p.a", "p.b", "p.c"]]


def test_the_models_validate_through_the_registry_below_them() -> None:
    """A model's clean() checks a destination, a plugin's config and a grant with the owning
    package's function, found in syncers.validators (registered at app start), not imported:
    the models reach neither syncers.destinations nor syncers.plugins."""
    from syncers.destinations.config import parse_destination
    from syncers.plugins.manifest import validate_grant
    from syncers.plugins.validation import validate_plugin_config
    from syncers.validators import DESTINATION, PLUGIN_CONFIG, PLUGIN_GRANT, validator

    assert validator(DESTINATION) is parse_destination
    assert validator(PLUGIN_CONFIG) is validate_plugin_config
    assert validator(PLUGIN_GRANT) is validate_grant
    graph = grimp.build_graph("syncers")
    for model_module in graph.find_children("syncers.models"):
        for imported in graph.find_modules_directly_imported_by(model_module):
            assert not imported.startswith(("syncers.destinations", "syncers.plugins")), (
                model_module,
                imported,
            )
